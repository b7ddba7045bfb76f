"""Figures of a search and of a ranking: the pruning trajectory, proxy-vs-accuracy panels, the found cell.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot, so
no figure is kept alive by a global registry and no window can open; ``save``
and ``png_bytes`` turn one into a file or into bytes for the HTML report.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot: never a window, also on machines with a display

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from tenas_kit.atomicfile import write_atomically  # noqa: E402
from tenas_kit.errors import TenasError, TenasRuntimeError  # noqa: E402
from tenas_kit.analysis.rounds import candidate_means, pruned_flags  # noqa: E402

FORMATS = ("png", "svg", "pdf")
DPI = 120
WIDE = 10  # a positive axis whose values span more than this factor (a decade) is drawn logarithmic
MAX_LABELS = 3  # pruned ops written out per round; DARTS prunes dozens at once


def check_output(path, formats=FORMATS):
    """The format of an output path, checked before any work is done."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in formats:
        endings = ", ".join(f".{f}" for f in formats)
        raise TenasError(f"cannot write '{path}': unknown file type '{Path(path).suffix}'; end -o in {endings}.")
    return fmt


def save(fig, path):
    fmt = check_output(path)
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, figure_bytes(fig, fmt))
    except OSError as exc:
        raise TenasRuntimeError(f"cannot write '{path}': {exc.strerror or exc}; choose a writable -o.") from None
    return path


def png_bytes(fig):
    return figure_bytes(fig, "png")


def figure_bytes(fig, fmt):
    """The file's bytes, made before anything is written: a failed write then leaves no half-drawn file."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


# ---- trajectory -------------------------------------------------------------------------------

def plane(run):
    """The first two proxies as the run was asked for them (``--proxies ntk,regions``: the TE-NAS plane,
    kappa_N across and R_N up); y is None when the run measured one proxy."""
    measured = run["rounds"][0]["proxies"]
    names = [name for name, _ in run["config"]["proxies"] if name in measured] or list(measured)
    return names[0], (names[1] if len(names) > 1 else None)


def trajectory_points(run, name):
    """The supernet's value (mean over repeats) after rounds 0..N; 0 is the starting supernet."""
    points = [float(np.mean(r["proxies"][name]["base"])) for r in run["rounds"]]
    if name in run.get("final", {}):
        points.append(float(np.mean(run["final"][name])))
    return np.array(points)


def pruned_labels(rnd):
    """Labels of the ops a round pruned."""
    flags = pruned_flags(rnd)
    if flags is None:
        return []
    return [label for label, flag in zip(rnd["labels"], flags) if flag]


def short_label(label, single_cell):
    """``cell/1<-0/skip_connect`` -> ``1<-0 skip_connect`` when there is one cell type to name."""
    parts = label.split("/")
    if single_cell and len(parts) == 3:
        parts = parts[1:]
    return " ".join(parts)


def _round_text(labels, single_cell):
    shown = [short_label(label, single_cell) for label in labels[:MAX_LABELS]]
    if len(labels) > MAX_LABELS:
        shown.append(f"+{len(labels) - MAX_LABELS} more")
    return "\n".join(shown)


def _log_if_wide(ax, axis, values):
    """Log scale for positive values spanning more than a decade: kappa_N does, R_N does not."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if len(values) and values.min() > 0 and values.max() / values.min() > WIDE:
        getattr(ax, f"set_{axis}scale")("log")
        _plain_log_ticks(getattr(ax, f"{axis}axis"))


def _plain_log_ticks(axis):
    """"20" rather than matplotlib's "2 x 10^1": kappa_N usually spans less than a decade or two."""
    from matplotlib import ticker

    axis.set_major_formatter(ticker.FuncFormatter(_tick_text))
    axis.set_minor_formatter(ticker.LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def _tick_text(value, _position=None):
    if 1e-3 <= value < 1e4:
        return f"{value:g}"
    exponent = np.log10(value)
    return f"1e{exponent:.0f}" if np.isclose(exponent, round(exponent)) else f"{value:.0e}"


def trajectory_figure(run, accuracy=None, axis_labels=None):
    """kappa_N and R_N of the supernet after every round, each round's candidates as a faint cloud.

    ``accuracy`` is a line added to the end marker; ``axis_labels`` maps a proxy name to its axis title.
    """
    if not run["rounds"]:
        raise TenasError("the run file holds no rounds; there is no trajectory to plot.")
    xname, yname = plane(run)
    xs = trajectory_points(run, xname)
    ys = trajectory_points(run, yname) if yname else np.arange(len(xs), dtype=float)
    fig = Figure(figsize=(7.5, 5.5))
    ax = fig.add_subplot()
    colours = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(run["rounds"])))
    cloud_x, cloud_y = [], []
    for index, (rnd, colour) in enumerate(zip(run["rounds"], colours)):
        cx = candidate_means(rnd, xname)
        cy = candidate_means(rnd, yname) if yname else np.full(len(cx), index + 1.0)
        ax.scatter(cx, cy, s=14, color=colour, alpha=0.35, linewidths=0, label=f"round {index + 1} candidates")
        cloud_x.append(cx)
        cloud_y.append(cy)
    ax.plot(xs, ys, "-o", color="black", markersize=4, linewidth=1.2, label="supernet", zorder=3)
    _mark_ends(ax, xs, ys, accuracy)
    _log_if_wide(ax, "x", np.concatenate([xs, *cloud_x]))
    if yname:
        _log_if_wide(ax, "y", np.concatenate([ys, *cloud_y]))
    _label_pruned(ax, run, xs, ys)
    labels = axis_labels or {}
    ax.set_xlabel(labels.get(xname, xname))
    ax.set_ylabel(labels.get(yname, yname) if yname else "after round")
    config = run["config"]
    ax.set_title(f"pruning trajectory: {config['space']}, {'+'.join(n for n, _ in config['proxies'])}, seed {config['seed']}")
    legend = ax.legend(fontsize=7, loc="best", framealpha=0.8)
    for handle in legend.legend_handles:
        handle.set_alpha(1.0)  # the cloud is faint on purpose; its key should not be
    ax.grid(True, alpha=0.3, which="both")
    return fig


def _mark_ends(ax, xs, ys, accuracy):
    ax.scatter(xs[:1], ys[:1], s=90, marker="s", color="tab:green", zorder=4, label="start (full supernet)")
    end = "end (found architecture)" + (f"\n{accuracy}" if accuracy else "")
    ax.scatter(xs[-1:], ys[-1:], s=160, marker="*", color="tab:red", zorder=4, label=end)


def _label_pruned(ax, run, xs, ys):
    # Point k + 1 is the supernet after round k, i.e. after these ops were pruned.
    single_cell = len({label.split("/")[0] for rnd in run["rounds"] for label in rnd["labels"]}) == 1
    ax.autoscale_view()  # the final limits and scales decide on which side a label stays inside the axes
    to_axes = ax.transData + ax.transAxes.inverted()
    for index, rnd in enumerate(run["rounds"]):
        labels = pruned_labels(rnd)
        if not labels or index + 1 >= len(xs) or not np.isfinite([xs[index + 1], ys[index + 1]]).all():
            continue
        fx, fy = to_axes.transform((xs[index + 1], ys[index + 1]))
        ax.annotate(f"round {index + 1} pruned:\n{_round_text(labels, single_cell)}", (xs[index + 1], ys[index + 1]),
                    xytext=(-8 if fx > 0.6 else 8, -8 if fy > 0.6 else 8), textcoords="offset points", fontsize=6.5,
                    ha="right" if fx > 0.6 else "left", va="top" if fy > 0.6 else "bottom", zorder=5,
                    bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.8, "linewidth": 0.3})


# ---- correlation ------------------------------------------------------------------------------

def correlation_figure(scores, accuracy, accuracy_name, resamples=1000):
    """One panel per score against accuracy, Kendall tau (95% bootstrap CI) in each title.

    ``scores`` maps a column name to its values; ``rank_sum`` is low for good
    architectures, so its tau is taken on the negated sum (as ``correlate``
    reports it) and its axis runs from high to low.
    """
    from tenas_kit.analysis.correlation import correlations

    accuracy = np.asarray(accuracy, float)
    columns = 3 if len(scores) > 4 else min(2, len(scores))
    rows = -(-len(scores) // columns)
    fig = Figure(figsize=(4.2 * columns, 3.6 * rows))
    for index, (name, values) in enumerate(scores.items()):
        ax = fig.add_subplot(rows, columns, index + 1)
        values = np.asarray(values, float)
        sign = -1.0 if name == "rank_sum" else 1.0
        r = correlations(sign * values, accuracy, resamples)
        finite = np.isfinite(values)
        ax.scatter(values[finite], accuracy[finite], s=14, alpha=0.7, linewidths=0)
        if sign < 0:
            ax.invert_xaxis()  # ranks are evenly spaced by nature: a linear axis
        else:
            _log_if_wide(ax, "x", values[finite])
        shown = "-rank_sum" if sign < 0 else name
        if r["reason"]:
            ax.set_title(f"{shown}: {r['reason']}", fontsize=9)
        else:
            ax.set_title(f"{shown}: tau = {r['tau']:.3f} [{r['tau_low']:.2f}, {r['tau_high']:.2f}]", fontsize=9)
        ax.set_xlabel(name + (" (best on the right)" if sign < 0 else ""))
        ax.set_ylabel(accuracy_name)
        ax.grid(True, alpha=0.3, which="both")
    fig.suptitle(f"proxy scores against {accuracy_name} ({len(accuracy)} architectures, Kendall tau, 95% CI)")
    fig.tight_layout()
    return fig


# ---- cell diagram -----------------------------------------------------------------------------

NODE_RADIUS = 0.3
SPACING = 2.0  # between neighbouring nodes, in node-free room for an op name (data units)
INCH = 0.8  # data units per inch of figure


def parse_edge(name):
    """``"target<-source"`` -> (target, source)."""
    target, arrow, source = name.partition("<-")
    if not arrow:
        raise TenasError(f"edge '{name}' is not named 'target<-source'; the cell cannot be drawn.")
    return target.strip(), source.strip()


def node_order(edges):
    """Nodes in topological order (sources first), ties by first appearance, so arrows mostly run left to right."""
    nodes = list(dict.fromkeys(n for edge in edges for n in reversed(edge)))
    if all(re.fullmatch(r"\d+", n) for n in nodes):
        return sorted(nodes, key=int)
    order, placed = [], set()
    while len(order) < len(nodes):
        ready = [n for n in nodes if n not in placed and all(s in placed for t, s in edges if t == n)]
        nxt = ready[0] if ready else next(n for n in nodes if n not in placed)  # a cycle: draw it anyway
        order.append(nxt)
        placed.add(nxt)
    return order


def node_names(order, edges):
    """DARTS-style names when a cell has several inputs: c_{k-2}, c_{k-1}, then 0, 1, ...

    With one input the layout's own numbers already read naturally (0 -> 1 -> 2 -> 3).
    """
    targets = {t for t, _ in edges}
    inputs = [n for n in order if n not in targets]
    if len(inputs) < 2:
        return {n: n for n in order}
    names = {n: f"c_{{k-{len(inputs) - i}}}" for i, n in enumerate(inputs)}
    names.update({n: str(i) for i, n in enumerate(n for n in order if n in targets)})
    return names


def cell_figure(layout, mask):
    """The cells of a (final) op mask: nodes as circles, every alive edge as an arrow labelled with its op(s)."""
    mask = np.asarray(mask, bool)
    cells = [c for c in range(len(layout.cell_types)) if mask[c].any()]
    edges = [parse_edge(name) for name in layout.edges]
    order = node_order(edges)
    extents = [_cell_extent(mask[c], edges, order) for c in cells]
    width = SPACING * (len(order) - 1) + 2 * (NODE_RADIUS + 0.4)
    # One data unit is one length in every cell (all share width and aspect), so rows are as tall as their arcs.
    heights = [below + above for below, above in extents]
    fig = Figure(figsize=(width / INCH, sum(heights) / INCH + 0.45 * len(cells)))
    grid = fig.add_gridspec(len(cells), 1, height_ratios=heights)
    for row, (cell, (below, above)) in enumerate(zip(cells, extents)):
        ax = fig.add_subplot(grid[row])
        _draw_cell(ax, layout, mask[cell], edges, order)
        ax.set_xlim(-NODE_RADIUS - 0.4, width - NODE_RADIUS - 0.4)
        ax.set_ylim(-below, above)
        name = layout.cell_types[cell]
        ax.set_title(name if "cell" in name else f"{name} cell", fontsize=10)
    return fig


def _cell_extent(alive, edges, order):
    """(room below, room above) the nodes' line: the deepest arc on each side, plus a node and a label."""
    sides = [0.0, 0.0]
    for e, (target, source) in enumerate(edges):
        if alive[e].any():
            i, j = order.index(source), order.index(target)
            rad, height = _arc(SPACING * (j - i), i)
            side = int(rad * (j - i) < 0)  # the label sits at y = -rad * dx / 2
            sides[side] = max(sides[side], height)
    return tuple(h + NODE_RADIUS + 0.35 for h in sides)


def _arc(dx, source_index):
    """(arc3 rad, height of the arc's midpoint) for an edge spanning dx; edges skipping nodes bow out,
    to alternating sides by source, so they miss the nodes in between."""
    span = round(abs(dx) / SPACING)
    if span <= 1:
        return 0.0, 0.0
    rad = (0.25 + 0.08 * (span - 2)) * (1 if source_index % 2 else -1)
    # The midpoint of arc3's quadratic Bezier sits half the control offset from the chord's midpoint.
    return rad, abs(0.5 * rad * dx)


def _draw_cell(ax, layout, alive, edges, order):
    from matplotlib.patches import Circle

    names = node_names(order, edges)
    circles = {}
    for index, node in enumerate(order):
        circles[node] = Circle((SPACING * index, 0.0), NODE_RADIUS, facecolor="#dbe9f6", edgecolor="#1f4e79", zorder=3)
        ax.add_patch(circles[node])
        ax.text(SPACING * index, 0.0, f"${names[node]}$" if "_" in names[node] else names[node],
                ha="center", va="center", fontsize=9, zorder=4)
    for e, (target, source) in enumerate(edges):
        ops = [layout.ops[o] for o in np.flatnonzero(alive[e])]
        if ops:
            _draw_edge(ax, order.index(source), order.index(target), circles[source], circles[target], ops)
    ax.set_aspect("equal")
    ax.axis("off")


def _draw_edge(ax, i, j, source, target, ops):
    x1, x2 = SPACING * i, SPACING * j
    rad, _ = _arc(x2 - x1, i)
    # "none" is the zero op: the edge exists in the layout but carries nothing.
    zero = ops == ["none"]
    ax.annotate("", xy=(x2, 0.0), xytext=(x1, 0.0), zorder=2,
                arrowprops={"arrowstyle": "-|>", "connectionstyle": f"arc3,rad={rad}", "patchA": source, "patchB": target,
                            "color": "#999999" if zero else "#333333", "linestyle": "--" if zero else "-", "linewidth": 1.1})
    ax.text((x1 + x2) / 2, -0.5 * rad * (x2 - x1), "\n".join(ops), ha="center", va="center", fontsize=7,
            color="#777777" if zero else "black", zorder=5,
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85})
