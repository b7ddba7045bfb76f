"""A run as one self-contained HTML page: settings, trajectory, rounds, the found cell, timings, versions.

The page must open anywhere, offline and years later, so it references nothing
outside itself: the figures are inlined as base64 PNG, the style sheet is in
the page, and there is no script. Every piece of text from the run file is
escaped, since labels and settings come from plugins.
"""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path

import numpy as np

from tenas_kit.atomicfile import write_atomically
from tenas_kit.errors import TenasError, TenasRuntimeError
from tenas_kit.analysis.rounds import candidate_means, pruned_flags

FORMATS = ("html", "htm")

STYLE = """
body { font-family: sans-serif; margin: 2em auto; padding: 0 1em; max-width: 72em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: 0.15em 0.5em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; font-family: monospace; }
table.pairs td { text-align: left; font-family: monospace; word-break: break-all; }
tr.pruned td { background: #fde8e8; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.85em; white-space: pre-wrap; word-break: break-all; }
img { max-width: 100%; }
.note { color: #8a5a00; }
"""


def check_output(path):
    if Path(path).suffix.lower().lstrip(".") not in FORMATS:
        raise TenasError(f"cannot write '{path}': a report is HTML; end -o in .html.")


def write(path, page):
    check_output(path)
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, page.encode("utf-8"))
    except OSError as exc:
        raise TenasRuntimeError(f"cannot write '{path}': {exc.strerror or exc}; choose a writable -o.") from None
    return path


def page(name, run, figures, arch_json=None, accuracy=None, notes=()):
    """The HTML text. ``figures`` maps a section ("trajectory", "cell") to PNG bytes; ``accuracy`` is a shown line."""
    title = f"tenas-kit run report: {name}"
    body = [f"<h1>{escape(title)}</h1>", _summary(run, accuracy), *(f'<p class="note">{escape(n)}</p>' for n in notes),
            _section("Configuration", "<h3>as given</h3>" + _pairs(_compact(run["config"]))
                     + "<h3>resolved plugin settings</h3>" + _pairs(_compact(run["settings"]))),
            _section("Pruning trajectory", _image(figures.get("trajectory"), "supernet kappa_N and R_N after every round")),
            _section("Found architecture", _architecture(run, figures.get("cell"), arch_json)),
            *([_section("Queries", _queries(run))] if "queries" in run else []),
            _section("Rounds", "".join(_round_table(i, rnd) for i, rnd in enumerate(run["rounds"]))),
            _section("Timings", _timings(run["rounds"])),
            _section("Versions", _pairs(run["versions"]))]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def _section(heading, content):
    return f"<h2>{escape(heading)}</h2>\n{content}"


def _summary(run, accuracy):
    pairs = {"architecture": run.get("architecture", "(none: the run is not finished)"), "data": run.get("data", ""),
             "created": run.get("created", ""), "rounds": len(run["rounds"])}
    if accuracy:
        pairs["benchmark accuracy"] = accuracy
    return _pairs(pairs)


def _pairs(mapping):
    rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in mapping.items())
    return f'<table class="pairs">{rows}</table>'


def _compact(mapping, prefix=""):
    """Nested settings as ``proxies.ntk.batch_size`` rows, lists as one-line JSON: a table, not a scroll of brackets."""
    rows = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            rows.update(_compact(value, f"{prefix}{key}."))
        else:
            rows[f"{prefix}{key}"] = value if isinstance(value, str) else json.dumps(value, default=str)
    return rows


def _image(png, alt):
    if not png:
        return '<p class="note">no figure</p>'
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _architecture(run, cell_png, arch_json):
    parts = [f"<pre>{escape(str(run.get('architecture', '')))}</pre>"]
    if arch_json:
        parts.append("<h3>structured form (the space's to_json)</h3>" + _pairs(_compact(arch_json)))
    if cell_png:
        parts.append(_image(cell_png, "cell diagram of the found architecture"))
    return "\n".join(parts)


def _queries(run):
    """The oracle and every query, in the order asked; the first is the pruning's cell."""
    asked = _pairs({**run["queries"], "searched (the pruning's cell)": run.get("searched", "")})
    rows = "".join(f"<tr><td>{i + 1}</td><td>{escape(a['arch'])}</td><td>{_cell(a['answer'])}</td>"
                   f"<td>{a['seconds']:.1f}</td></tr>" for i, a in enumerate(run["answers"]))
    return (asked + "<table><tr><th>query</th><th>cell</th><th>answer</th><th>seconds</th></tr>\n" + rows
            + "</table>\n")


def _round_table(index, rnd):
    proxies = list(rnd["proxies"])
    columns = rnd["columns"]
    head = "".join(f"<th>{escape(h)}</th>" for h in ["candidate", *proxies, *(c.replace("_", " ") for c in columns)])
    values = {name: candidate_means(rnd, name) for name in proxies}
    flags = pruned_flags(rnd)
    rows = []
    for j, label in enumerate(rnd["labels"]):
        cells = [escape(label), *(_cell(values[n][j]) for n in proxies), *(_cell(columns[c][j]) for c in columns)]
        css = ' class="pruned"' if flags is not None and flags[j] else ""
        rows.append(f"<tr{css}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    caption = f"round {index + 1}: {len(rnd['labels'])} candidates, {rnd['seconds']:.1f} s"
    return f"<h3>{escape(caption)}</h3>\n<table><tr>{head}</tr>\n" + "\n".join(rows) + "</table>\n"


def _cell(value):
    if isinstance(value, (bool, np.bool_)):
        return "pruned" if value else ""
    value = float(value)
    if value.is_integer():
        return str(int(value))
    return escape(f"{value:.4g}")


def _timings(rounds):
    rows = "".join(f"<tr><td>round {i + 1}</td><td>{r['seconds']:.2f}</td></tr>" for i, r in enumerate(rounds))
    total = sum(r["seconds"] for r in rounds)
    return f"<table><tr><th>round</th><th>seconds</th></tr>{rows}<tr><td>total</td><td>{total:.2f}</td></tr></table>"


def training_page(name, held, curve_png):
    """The HTML text of a training file (``trainfile.read``): settings, the learning curve, every epoch."""
    from tenas_kit.analysis.curves import tested_on

    title = f"tenas-kit training report: {name}"
    epochs, done = held["epochs"], int(held["epochs_done"])
    summary = {"architecture": held["architecture"], "recipe": held["config"]["recipe"], "data": held["data"],
               "epochs": f"{done} of {held['config']['fields']['epochs']}", "created": held.get("created", "")}
    if done:
        summary[f"{tested_on(held)} accuracy"] = f"{epochs['test_accuracy'][-1]:.2f}%"
    columns = ("lr", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds", "images_per_second")
    head = "".join(f"<th>{escape(h.replace('_', ' '))}</th>" for h in ("epoch", *columns))
    rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in (i + 1, *(_cell(epochs[k][i]) for k in columns)))
                   + "</tr>" for i in range(done))
    body = [f"<h1>{escape(title)}</h1>", _pairs(summary),
            _section("Configuration", "<h3>what the result depends on</h3>" + _pairs(_compact(held["config"]))
                     + "<h3>recipe, data and device</h3>" + _pairs(_compact(held["settings"]))),
            _section("Learning curve", _image(curve_png, "loss and accuracy after every epoch")),
            _section("Epochs", f"<table><tr>{head}</tr>\n{rows}</table>"),
            _section("Versions", _pairs(held["versions"]))]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")
