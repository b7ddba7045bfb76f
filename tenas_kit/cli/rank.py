"""``tenaskit rank``, ``tenaskit correlate`` and ``tenaskit merge``: batch scoring from the command line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import click
import numpy as np
from rich.markup import escape
from rich.table import Table

from tenas_kit.arguments import INIT_SCHEMES
from tenas_kit.cli import limits
from tenas_kit.cli.common import benchmark_options
from tenas_kit.lifecycle import DEFAULT_STORE, NOT_SCORES
from tenas_kit.errors import TenasError


def parse_shard(text):
    if text is None:
        return None
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise TenasError(f"--shard '{text}' should read i/N, e.g. 0/4.") from None
    return index, count  # the range is checked with the ranking's other arguments (tenas_kit.arguments)


def register(cli, console, plugin_option, parse_proxies, registry):
    @cli.command()
    @click.option("--space", default="nb201", show_default=True)
    @click.option("--proxies", default="ntk,regions", show_default=True, help="Proxies, optionally weighted: ntk,regions:0.5.")
    @click.option("--archs", "archs_file", type=click.Path(path_type=Path), default=None,
                  help="File: one architecture a line, or a CSV with an 'arch' column.")
    @click.option("--sample", type=limits.SAMPLE, default=None, help="Rank N architectures drawn with --seed.")
    @click.option("--all", "every", is_flag=True, help="Rank every architecture of the space.")
    @click.option("--data", default="embedded", show_default=True)
    @click.option("--dataset", default="cifar10", show_default=True)
    @click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
    @click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
    @click.option("--repeats", type=limits.REPEATS, default=3, show_default=True,
                  help="Repeats averaged per score (a preset may set its own).")
    @click.option("--init", type=click.Choice(INIT_SCHEMES), default="pytorch", show_default=True)
    @click.option("--executor", default="process", show_default=True,
                  help="Where scoring jobs run (tenaskit plugins lists executors); results do not depend on it.")
    @click.option("--store", type=click.Path(path_type=Path), default=DEFAULT_STORE,
                  show_default=True, help="HDF5 score store; scores already in it are not recomputed.")
    @click.option("--shard", default=None, help="i/N: score only this machine's share; merge the stores after.")
    @click.option("--top", type=click.IntRange(min=1), default=10, show_default=True)
    @click.option("--out", type=click.Path(path_type=Path), default=Path("ranking.csv"), show_default=True,
                  help="Results file, .csv or .json.")
    @click.option("--resume", is_flag=True, help="Continue this command's interrupted ranking (OUT.partial); an error "
                  "if there is none (without it, scores in --store are reused too).")
    @plugin_option
    @click.option("--preset", default=None, metavar="NAME",
                  help="A named proxy set with its combination rule, in place of --proxies (tenaskit plugins lists "
                       "presets; 'best' is the ensemble to reach for first, 'tenas' is ntk,regions).")
    @click.option("--labels", default=None, metavar="FILE[:COLUMN]",
                  help="Measured values (higher is better) of some cells, candidates or not: a CSV with an 'arch' "
                       "column and one column of values (or the COLUMN named). The ranking learns from them.")
    @click.option("--ranker", default=None, metavar="NAME",
                  help="The ranker that learns from --labels (tenaskit plugins lists rankers; default: the first).")
    def rank(space, proxies, archs_file, sample, every, data, dataset, seed, device, repeats, init, executor, store,
             shard, top, out, resume, plugins, preset, labels, ranker, **plugin_options):
        """Score many architectures, each on its own network, and rank them by weighted rank sum.

        Proxies and executors add options of their own (``cli_options``); each plugin reads only its own. A
        space adds none: a space is known by its name alone (docs/plugins.md says why).
        """
        from tenas_kit.cli.common import apply_preset, note_stand_in, plugin_values
        from tenas_kit.cli.progress import RankReporter
        from tenas_kit.lifecycle import Ranking, choose_archs
        from tenas_kit.plan import SearchConfig

        options, executor_options = plugin_values(plugin_options)
        config = SearchConfig(space, parse_proxies(proxies), None, data, dataset, seed, device, repeats,
                              {"init": init, **options}, executor, executor_options)
        config = apply_preset(config, preset, plugins)
        texts = choose_archs(registry(plugins).get("space", space), None, archs_file, sample, every, seed)
        job = Ranking(config, texts, store, out, parse_shard(shard), plugins, resume, labels, ranker)
        note_stand_in(data)
        with RankReporter(console) as reporter:
            ranking = job.run(reporter)
        # The results file is written before anything is printed: a closed stdout cannot lose it.
        names = [p.name for p, _, _ in job.plan.proxies]
        console.print(f"{len(texts)} architectures, {ranking.unique} distinct cells "
                      f"({len(texts) - ranking.unique} deduplicated); {ranking.computed} scores computed, "
                      f"the rest from {store}")
        learned = ranking.learned is not None
        if learned:
            console.print(learning_line(ranking.learned), soft_wrap=True)
        table = Table(title=f"top {min(top, len(ranking.archs))}")
        for column in ("rank", "architecture", *(("predicted", "label") if learned else ()), "rank sum", *names):
            table.add_column(escape(column))  # names and architectures are plugins' text, not markup
        for position, i in enumerate(ranking.order()[:top], start=1):
            shown = (_shown(ranking.predicted, i), _shown(ranking.labels, i)) if learned else ()
            table.add_row(str(position), escape(ranking.archs[i]), *shown, f"{ranking.rank_sum[i]:g}",
                          *[f"{ranking.scores[n][i]:.4g}" for n in names])
        console.print(table)
        console.print(f"saved: {out}")

    @cli.command()
    @click.argument("results", type=click.Path(path_type=Path))
    @benchmark_options
    @click.option("--space", default="nb201", show_default=True)
    @click.option("--resamples", type=click.IntRange(min=100), default=1000, show_default=True, help="Bootstrap resamples.")
    @plugin_option
    def correlate(results, benchmark, benchmark_column, space, resamples, plugins):
        """Kendall tau and Spearman rho of each proxy (and the rank sum) against benchmark accuracy (one column:
        the space's own table's first unless --benchmark/--benchmark-column name another).

        Proxy columns are correlated as recorded, so a lower-is-better proxy (ntk) agrees with
        accuracy at negative tau; the rank sum is negated, so positive means agreement there.
        Intervals: 95% percentile bootstrap over (score, accuracy) pairs, seeded."""
        from tenas_kit.analysis.correlation import correlations

        scores, accuracy, column_name = benchmark_scores(results, benchmark, benchmark_column,
                                                         registry(plugins).get("space", space), plugins)
        out = Table(title=f"correlation with {escape(column_name)} ({len(accuracy)} architectures, 95% percentile-bootstrap CI "
                          f"over pairs, {resamples} resamples)",
                    caption="proxies as recorded (lower-is-better ones agree at negative tau); -rank_sum: positive agrees")
        for column in ("score", "n", "kendall tau", "tau CI", "spearman rho", "rho CI"):
            out.add_column(column)

        def interval(r, name):
            low, high = r[f"{name}_low"], r[f"{name}_high"]
            return f"[{low:.3f}, {high:.3f}]" if np.isfinite(low) and np.isfinite(high) else r["ci_reason"]

        for column, values in scores.items():
            if column == "rank_sum":
                values = -values  # a low rank sum is good
            r = correlations(values, accuracy, resamples)
            shown = escape(column) if column != "rank_sum" else "-rank_sum"
            if r["reason"]:  # one column without a correlation must not cost the others their rows
                out.add_row(shown, str(r["n"]), r["reason"], "", "", "")
                continue
            out.add_row(shown, str(r["n"]), f"{r['tau']:.3f}", interval(r, "tau"), f"{r['rho']:.3f}", interval(r, "rho"))
        console.print(out)

    @cli.command()
    @click.argument("target", type=click.Path(path_type=Path))
    @click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
    def merge(target, sources):
        """Add the scores of SOURCES (stores from --shard runs) to the TARGET store."""
        from tenas_kit.scorestore import merge as merge_stores

        for source in sources:
            if not Path(source).is_file():
                raise TenasError(f"store '{source}' does not exist.")
        added = merge_stores(target, sources)
        console.print(f"merged {len(sources)} stores into {target}: {added} new scores")


def learning_line(summary):
    """What learning from labels said: the cross-validated tau beside the rule's, or why the rule ranks."""
    pooled = f", {summary.fitted} after pooling isomorphs" if summary.fitted != summary.labelled else ""
    among = f"{summary.labelled} labelled cells ({summary.among} among the candidates{pooled})"
    if summary.learned is None:
        return f"{among}: {summary.fallback}; ranked by the training-free rule."
    learned = summary.learned
    tau = "n/a" if np.isnan(learned.cv_tau) else f"{learned.cv_tau:.3f}"
    rule = "n/a" if np.isnan(learned.rule_tau) else f"{learned.rule_tau:.3f}"
    return (f"ranker '{summary.ranker}' learned from {among}: Kendall tau on the labels {tau} "
            f"({learned.folds}-fold cross-validated; the training-free rule alone: {rule}).")


def _shown(values, i):
    return "" if values is None or np.isnan(values[i]) else f"{values[i]:.4g}"


def benchmark_scores(results, benchmark, column, space, plugins=()):
    """``({score column: values}, accuracies, accuracy label)`` of the ranked architectures the benchmark holds,
    on one column: ``column``, else the first of the table (``--benchmark``; None: the space's own table)."""
    from tenas_kit.cli.common import open_benchmark

    table, metrics = open_benchmark(benchmark, column, space, plugins)
    if table is None:
        raise TenasError(f"no benchmark table covers space '{space.name}'; give --benchmark FILE.csv (an 'arch' "
                         f"column and an accuracy column).")
    rows = _read_results(results)
    found = [(row, table.value(row["arch"], metrics[0])) for row in rows]
    found = [(row, acc) for row, acc in found if acc is not None]
    if len(found) < 3:
        raise TenasError(f"only {len(found)} of {len(rows)} architectures are in '{table.name}'; need at least 3.")
    names = [c for c in rows[0] if c not in NOT_SCORES]

    def number(row, name):
        value = row.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return float("nan")  # a missing score, like NaN, leaves the pair out of that column only
        try:
            return float(value)
        except (TypeError, ValueError):
            raise TenasError(f"'{results}': column '{name}' of {row['arch']} holds {value!r}, not a number.") from None

    scores = {name: np.array([number(row, name) for row, _ in found]) for name in names}
    return scores, np.array([acc for _, acc in found]), table.label(metrics[0])


def _read_results(path):
    """The rows of a results file of ``tenaskit rank`` (.csv or .json); every score cell is checked to be a number
    (nan and inf included: a proxy may give either) or empty, and a bad one refused by its line."""
    from tenas_kit.textfiles import csv_rows, number, read_text

    path = Path(path)
    if not path.is_file():
        raise TenasError(f"results file '{path}' does not exist; give the --out file of tenaskit rank.")
    what = "results file"
    text = read_text(path, what)
    if path.suffix == ".json":
        try:
            rows = json.loads(text)
        except ValueError as exc:
            raise TenasError(f"{what} '{path}', line {getattr(exc, 'lineno', '?')}: not JSON ({getattr(exc, 'msg', exc)}).") from None
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise TenasError(f"{what} '{path}' is JSON but not a list of ranking rows; give the --out file of tenaskit rank.")
        numbered = [(f"row {index + 1}", row) for index, row in enumerate(rows)]
    else:
        _, numbered = csv_rows(text, path, what)
        rows = [row for _, row in numbered]
    if not rows or "arch" not in rows[0]:
        raise TenasError(f"'{path}' holds no ranking rows with an 'arch' column.")
    for where, row in numbered:
        if not isinstance(row.get("arch"), str):
            raise TenasError(f"{what} '{path}', {where}: no architecture in column 'arch'.")
        for name, cell in row.items():
            if name not in ("rank", "arch"):
                number(cell, path, where, name, what, finite=False)
    return rows
