"""``tenaskit rank``, ``tenaskit correlate`` and ``tenaskit merge``: batch scoring from the command line."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import click
import numpy as np
from rich.table import Table

from tenas_kit import engine
from tenas_kit.cli import limits
from tenas_kit.errors import TenasError, TenasRuntimeError


def read_archs(path):
    """One architecture a line, or a CSV with an ``arch`` column."""
    path = Path(path)
    if not path.is_file():
        raise TenasError(f"--archs file '{path}' does not exist; give a text file (one architecture a line) or a CSV with an 'arch' column.")
    text = path.read_text()
    first = text.splitlines()[0].strip() if text.strip() else ""
    if first.split(",")[0] == "arch" or ",arch" in first:
        return [row["arch"].strip() for row in csv.DictReader(text.splitlines()) if row.get("arch", "").strip()]
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def choose_archs(space, archs_file, sample, every, seed):
    picked = sum(bool(x) for x in (archs_file, sample, every))
    if picked != 1:
        raise TenasError("give exactly one of --archs FILE, --sample N or --all.")
    if archs_file:
        return read_archs(archs_file)
    if every or sample:
        if hasattr(space, "enumerate"):
            pool = [space.format(a) for a in space.enumerate()]
            if every:
                return pool
            if sample > len(pool):
                raise TenasError(f"--sample {sample} exceeds the {len(pool)} architectures of '{space.name}'.")
            return [pool[i] for i in np.random.default_rng(seed).choice(len(pool), sample, replace=False)]
        if every:
            raise TenasError(f"space '{space.name}' cannot list all its architectures; use --sample N.")
        if hasattr(space, "sample"):
            rng = np.random.default_rng(seed)
            return [space.format(space.sample(rng)) for _ in range(sample)]
        raise TenasError(f"space '{space.name}' cannot sample architectures; give --archs FILE.")
    return []


def _digest(texts):
    return hashlib.sha1("\n".join(texts).encode()).hexdigest()


def parse_shard(text):
    if text is None:
        return None
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise TenasError(f"--shard '{text}' should read i/N, e.g. 0/4.") from None
    if not 0 <= index < count:
        raise TenasError(f"--shard {text}: i must satisfy 0 <= i < N.")
    return index, count


def write_results(ranking, path, proxies):
    path = Path(path)
    rows = []
    for position, i in enumerate(ranking.order(), start=1):
        row = {"rank": position, "arch": ranking.archs[i], "rank_sum": float(ranking.rank_sum[i])}
        row.update({name: float(ranking.scores[name][i]) for name in proxies})
        rows.append(row)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".json":
            path.write_text(json.dumps(rows, indent=1))
        else:
            with open(path, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
    except OSError as exc:
        raise TenasRuntimeError(f"cannot write results to '{path}': {exc.strerror or exc}.") from None


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
    @click.option("--repeats", type=limits.REPEATS, default=3, show_default=True)
    @click.option("--batch-size", type=limits.BATCH, default=None, help="NTK batch (default: the space's).")
    @click.option("--init", type=click.Choice(["pytorch", "kaiming"]), default="pytorch", show_default=True)
    @click.option("--store", type=click.Path(path_type=Path), default=Path.home() / ".cache" / "tenaskit" / "scores.h5",
                  show_default=True, help="HDF5 score store; scores already in it are not recomputed.")
    @click.option("--workers", type=limits.WORKERS, default=None, help="Scoring processes (default: one per CPU core).")
    @click.option("--shard", default=None, help="i/N: score only this machine's share; merge the stores after.")
    @click.option("--top", type=click.IntRange(min=1), default=10, show_default=True)
    @click.option("--out", type=click.Path(path_type=Path), default=Path("ranking.csv"), show_default=True,
                  help="Results file, .csv or .json.")
    @click.option("--resume", is_flag=True, help="Continue this command's interrupted ranking (OUT.partial); an error "
                  "if there is none (without it, scores in --store are reused too).")
    @plugin_option
    def rank(space, proxies, archs_file, sample, every, data, dataset, seed, device, repeats, batch_size, init, store,
             workers, shard, top, out, resume, plugins, **plugin_options):
        """Score many architectures, each on its own network, and rank them by weighted rank sum."""
        from tenas_kit.ranker import rank as run_rank
        from tenas_kit.resume import RankMarker
        from tenas_kit.scorestore import ScoreStore
        from tenas_kit.workers import default_workers

        config = engine.SearchConfig(space, parse_proxies(proxies), "tenas", data, dataset, seed, device, repeats,
                                     {"batch_size": batch_size, "init": init, **plugin_options})
        reg = registry(plugins)
        plan = engine.plan(reg, config)
        texts = choose_archs(plan.space, archs_file, sample, every, seed)
        score_store = ScoreStore(store)
        marker = RankMarker(out, {**config.as_dict(), "archs": _digest(texts), "shard": shard, "store": str(store)})
        marker.start(resume)
        try:
            ranking = run_rank(plan, config, texts, score_store, workers or default_workers(plan.device),
                               parse_shard(shard), plugins)
        except KeyboardInterrupt:
            raise marker.interrupted(store, len(score_store)) from None
        except TenasError:
            marker.done()  # a failure, not an interruption: nothing is waiting to be resumed
            raise
        names = [p.name for p, _, _ in plan.proxies]
        console.print(f"{len(texts)} architectures, {ranking.unique} distinct cells "
                      f"({len(texts) - ranking.unique} deduplicated); {ranking.computed} scores computed, "
                      f"the rest from {store}")
        table = Table(title=f"top {min(top, len(ranking.archs))}")
        for column in ("rank", "architecture", "rank sum", *names):
            table.add_column(column)
        for position, i in enumerate(ranking.order()[:top], start=1):
            table.add_row(str(position), ranking.archs[i], f"{ranking.rank_sum[i]:g}",
                          *[f"{ranking.scores[n][i]:.4g}" for n in names])
        console.print(table)
        try:
            write_results(ranking, out, names)
        finally:
            marker.done()
        console.print(f"saved: {out}")

    @cli.command()
    @click.argument("results", type=click.Path(path_type=Path))
    @click.option("--benchmark", type=click.Path(path_type=Path), required=True, help="CSV with 'arch' and an accuracy column.")
    @click.option("--benchmark-column", default=None)
    @click.option("--space", default="nb201", show_default=True)
    @click.option("--resamples", type=click.IntRange(min=100), default=1000, show_default=True, help="Bootstrap resamples.")
    @plugin_option
    def correlate(results, benchmark, benchmark_column, space, resamples, plugins):
        """Kendall tau and Spearman rho of each proxy (and the rank sum) against benchmark accuracy."""
        from tenas_kit.analysis.correlation import correlations

        scores, accuracy, column_name = benchmark_scores(results, benchmark, benchmark_column,
                                                         registry(plugins).get("space", space))
        out = Table(title=f"correlation with {column_name} ({len(accuracy)} architectures, 95% bootstrap CI)")
        for column in ("score", "kendall tau", "tau CI", "spearman rho", "rho CI"):
            out.add_column(column)
        for column, values in scores.items():
            if column == "rank_sum":
                values = -values  # a low rank sum is good
            r = correlations(values, accuracy, resamples)
            out.add_row(column if column != "rank_sum" else "-rank_sum", f"{r['tau']:.3f}", f"[{r['tau_low']:.3f}, {r['tau_high']:.3f}]",
                        f"{r['rho']:.3f}", f"[{r['rho_low']:.3f}, {r['rho_high']:.3f}]")
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


def benchmark_scores(results, benchmark, column, space):
    """``({score column: values}, accuracies, accuracy column)`` of the ranked architectures the benchmark holds."""
    from tenas_kit.analysis.accuracy import AccuracyTable

    table = AccuracyTable(benchmark, column)
    rows = _read_results(results)
    found = [(row, table.lookup(space, row["arch"])) for row in rows]
    found = [(row, acc) for row, acc in found if acc is not None]
    if len(found) < 3:
        raise TenasError(f"only {len(found)} of {len(rows)} architectures are in '{benchmark}'; need at least 3.")
    names = [c for c in rows[0] if c not in ("rank", "arch")]
    scores = {name: np.array([float(row[name]) for row, _ in found]) for name in names}
    return scores, np.array([acc for _, acc in found]), table.column


def _read_results(path):
    path = Path(path)
    if not path.is_file():
        raise TenasError(f"results file '{path}' does not exist; give the --out file of tenaskit rank.")
    try:
        if path.suffix == ".json":
            rows = json.loads(path.read_text())
        else:
            with open(path, newline="") as handle:
                rows = list(csv.DictReader(handle))
    except (ValueError, csv.Error) as exc:
        raise TenasRuntimeError(f"cannot read results '{path}': {exc}") from None
    if not rows or "arch" not in rows[0]:
        raise TenasError(f"'{path}' holds no ranking rows with an 'arch' column.")
    return rows
