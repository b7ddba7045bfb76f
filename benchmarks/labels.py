"""Rankings that learn from labels: Kendall tau on the unlabelled cells against the number of labels.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/labels.py --sample 1000 --seed 0 --draws 10

Scores: the `--sample` cells of `tenaskit rank --sample N --seed S`, scored with `--preset best` (or
`--proxies`) on `--data` into `--store`, which is kept between runs: scoring 1000 cells takes minutes, and a
second run reads them back. Labels: for each column of the `nb201` benchmark table and each count of
`--labels`, `--draws` draws of that many cells at random from the sample (numpy's generator seeded by the
draw's number), labelled with the table's value. Each draw runs what `tenaskit rank --labels` runs on a
ranking (`tenas_kit.labels.learn_ranking`: features, fit, prediction, cross-validation), and its tau is
that of the predicted values against the table on the cells left unlabelled. Printed per column and count:
the mean tau over the draws with a 95% t-interval of the mean, the training-free rule's tau on the same
cells, and the median time of one learning.

Cost: `--timing-cells` cells of the sample are scored again into an empty temporary store, and their wall
time per cell, times the sample, is the proxies' time the learning is compared with (start-up included).

`--models` compares other models on the same features (`forest` is the built-in ranker; the others are
defined here: `forest-ranks` and `forest-raw` fit the labels' ranks and the labels themselves instead of
the ranks' correction of the rule), `--features` keeps only some of the features (`proxies`: each
proxy's rank; `cell`: the space's encoding; the rule's rank is always kept). The machine line and the CPU
other processes used are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats
from threadpoolctl import threadpool_limits

from benchlib import busy_cpu_seconds, machine_line, own_cpu_seconds
from tenas_kit import learned
from tenas_kit.benchmark import Table
from tenas_kit.labels import learn_ranking
from tenas_kit.lifecycle import Ranking, choose_archs, configure
from tenas_kit.plugins import registry
from tenaskit_builtins.forest import on_scale

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
STORE = Path(tempfile.gettempdir()) / "tenaskit-labels" / "scores.h5"


class Sklearn:
    """A model of scikit-learn fitted to the labels (``raw``), their ranks (``rank``) or, as the built-in
    ranker is, the ranks' correction of the training-free rule (``correction``)."""

    def __init__(self, name, make, target="correction"):
        self.name, self.make, self.target, self.min_labels = name, make, target, 8

    def fit(self, features, labels, seed):
        ranks = stats.rankdata(labels) / len(labels)
        rule = stats.rankdata(features.column(learned.RULE)) / len(labels)
        target = {"raw": labels, "rank": ranks, "correction": ranks - rule}[self.target]
        return Model(self.make(seed).fit(features.values, target), self.target, np.sort(labels))


class Model:
    def __init__(self, model, target, ordered):
        self.model, self.target, self.ordered = model, target, ordered

    def predict(self, features):
        predicted = self.model.predict(features.values)
        if self.target == "raw":
            return predicted
        return on_scale(predicted + (features.column(learned.RULE) if self.target == "correction" else 0), self.ordered)


def alternatives():
    from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def forest(seed):
        return RandomForestRegressor(300, max_features=0.33, random_state=seed, n_jobs=1)

    def process(seed):
        kernel = ConstantKernel() * RBF(10.0) + WhiteKernel()
        return make_pipeline(StandardScaler(), GaussianProcessRegressor(kernel, normalize_y=True, random_state=seed))

    return {
        "forest-ranks": Sklearn("forest-ranks", forest, "rank"),
        "forest-raw": Sklearn("forest-raw", forest, "raw"),
        "extra-trees": Sklearn("extra-trees", lambda s: ExtraTreesRegressor(300, max_features=0.33, random_state=s,
                                                                            n_jobs=1)),
        "gaussian-process": Sklearn("gaussian-process", process),
        "boosting": Sklearn("boosting", lambda s: HistGradientBoostingRegressor(
            max_iter=300, learning_rate=0.05, max_leaf_nodes=8, min_samples_leaf=3, l2_regularization=1.0,
            random_state=s)),
    }


class Columns:
    """``ranker`` fitted on some of the feature columns only (the rule's always: it is what is corrected)."""

    def __init__(self, ranker, prefixes):
        self.ranker, self.prefixes, self.name = ranker, prefixes, ranker.name
        self.min_labels = getattr(ranker, "min_labels", 8)

    def fit(self, features, labels, seed):
        return Picked(self.ranker.fit(self.kept(features), labels, seed), self)

    def kept(self, features):
        keep = [i for i, name in enumerate(features.names) if name == learned.RULE or name.startswith(self.prefixes)]
        return learned.Features(tuple(features.names[i] for i in keep), features.values[:, keep])


class Picked:
    def __init__(self, fitted, columns):
        self.fitted, self.columns = fitted, columns

    def predict(self, features):
        return self.fitted.predict(self.columns.kept(features))


def score(args, texts, store):
    config = configure(space="nb201", data=args.data, seed=args.seed, workers=args.workers,
                       **({"proxies": args.proxies, "combine": args.combine, "repeats": 1} if args.proxies
                          else {"preset": args.preset}))
    job = Ranking(config, texts, store)
    started = time.perf_counter()
    ranking = job.run()
    return job.plan, ranking, time.perf_counter() - started


def draws(args, plan, ranking, table, metric, count, ranker):
    truth = np.array([table.value(text, metric) for text in ranking.archs])
    taus, rule_taus, seconds = [], [], []
    for draw in range(args.draws):
        chosen = np.random.default_rng(draw).choice(len(ranking.archs), count, replace=False)
        labels = {ranking.archs[i]: float(truth[i]) for i in chosen}
        started = time.perf_counter()
        result = learn_ranking(ranking, plan, labels, ranker, learned.seed_of(args.seed, ranker),
                                       len(ranking.archs))
        seconds.append(time.perf_counter() - started)
        rest = np.setdiff1d(np.arange(len(ranking.archs)), chosen)
        if result.predicted is None:
            return None, None, seconds, result.learned.fallback
        taus.append(stats.kendalltau(result.predicted[rest], truth[rest]).statistic)
        rule_taus.append(stats.kendalltau(-ranking.rank_sum[rest], truth[rest]).statistic)
    return taus, rule_taus, seconds, None


def interval(values):
    """The mean and its 95% t-interval."""
    mean = statistics.mean(values)
    if len(values) < 2:
        return f"{mean:.3f}"
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return f"{mean:.3f} [{mean - half:.3f}, {mean + half:.3f}]"


def proxies_seconds(args, texts):
    """Wall seconds per cell of scoring ``--timing-cells`` of the cells into an empty store."""
    with tempfile.TemporaryDirectory() as tmp:
        _, ranking, seconds = score(args, texts[: args.timing_cells], Path(tmp) / "timing.h5")
    return seconds / ranking.unique


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="the sample's seed and the run seed")
    parser.add_argument("--labels", default="10,20,50,100,200")
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--metrics", default="cifar10,cifar100,imagenet16-120")
    parser.add_argument("--preset", default="best")
    parser.add_argument("--proxies", default=None, help="proxies instead of the preset, e.g. meco,swap,params")
    parser.add_argument("--combine", default="log_rank_sum", help="their rule, with --proxies")
    parser.add_argument("--models", default="forest", help="forest (the built-in), forest-ranks, forest-raw, "
                        "extra-trees, gaussian-process, boosting")
    parser.add_argument("--features", default="all", choices=["all", "proxies", "cell"])
    parser.add_argument("--store", default=str(STORE), help="kept between runs")
    parser.add_argument("--timing-cells", type=int, default=50,
                        help="cells scored afresh to time the proxies (0: none)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", default=str(SHARED / "cifar10-jpg-mini" / "train"))
    args = parser.parse_args()
    if args.proxies:
        args.proxies = [(name, 1.0) for name in args.proxies.split(",")]
    print(machine_line())
    reg = registry()
    space = reg.get("space", "nb201")
    table = Table(reg.get("benchmark", "nb201"), space)
    texts = choose_archs(space, sample=args.sample, seed=args.seed)
    Path(args.store).parent.mkdir(parents=True, exist_ok=True)
    busy, own, started = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
    plan, ranking, seconds = score(args, texts, args.store)
    print(f"{len(texts)} cells ({ranking.unique} distinct), proxies {', '.join(p.name for p, _, _ in plan.proxies)}: "
          f"{ranking.computed} scores computed in {seconds:.0f} s, the rest from {args.store}", flush=True)
    per_cell = proxies_seconds(args, texts) if args.timing_cells else None
    if per_cell is not None:
        print(f"proxies' time: {per_cell * 1000:.0f} ms a cell ({args.timing_cells} cells scored afresh), "
              f"{per_cell * ranking.unique:.0f} s for the sample's {ranking.unique} distinct cells", flush=True)
    models = {"forest": reg.get("ranker", "forest"), **alternatives()}
    threadpool_limits(1)  # every model on one thread, as the built-in forest runs (boosting would take them all)
    for name in args.models.split(","):
        ranker = Columns(models[name], {"all": ("",), "proxies": ("proxy:",), "cell": ("cell:",)}[args.features])
        for metric in args.metrics.split(","):
            for count in (int(n) for n in args.labels.split(",")):
                taus, rule_taus, times, fallback = draws(args, plan, ranking, table, metric, count, ranker)
                cost = statistics.median(times)
                share = f", {cost / (per_cell * ranking.unique):.4f} of the proxies' time" if per_cell else ""
                if fallback:
                    print(f"{name} {args.features} {metric} {count:>4} labels: {fallback}")
                    continue
                print(f"{name} {args.features} {metric} {count:>4} labels: tau on the unlabelled {interval(taus)} "
                      f"(min {min(taus):.3f}, {len(taus)} draws); the rule on them {interval(rule_taus)}; "
                      f"learning {cost:.2f} s (median){share}", flush=True)
    elapsed = time.perf_counter() - started
    if busy is not None:
        other = max(0.0, (busy_cpu_seconds() - busy - (own_cpu_seconds() - own)) / elapsed)
        print(f"other processes used {other:.2f} cores on average meanwhile ({elapsed:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
