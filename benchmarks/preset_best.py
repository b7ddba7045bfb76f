"""The `best` preset against TE-NAS's pair: ranking quality and cost, and the pruning search, in one run.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/preset_best.py --sample 1000 --tenas-cells 60 --seeds 0-4 --exact-seeds 0

Ranking: the architectures of `tenaskit rank --sample N --seed 0`, ranked by
`tenaskit rank --preset best` and, on the first `--tenas-cells` of them, by
`--proxies ntk,regions` (TE-NAS exactly, its default 3 repeats), each into a
new empty store in a temporary folder, with `--workers N`. Cost is the
command's wall time (process start-up included) over the architectures it
was given; the ratio of the two costs comes from the same invocation. Kendall
tau of each order against CIFAR-10 accuracy, with a 95% bootstrap interval,
for the preset and for each of its proxies alone.

Search: `tenaskit run --space nb201 --preset best` for each of `--seeds`, and
the exact TE-NAS search (`--proxies ntk,regions`, defaults) for each of
`--exact-seeds`: the cell, its accuracy, the wall time; the accuracy's mean
+- sample stdev, and the ratio of the median wall times. Give `--seeds ''`
or `--exact-seeds ''` to leave a part out; `--darts` also runs one DARTS
search with the preset and prints its genotype. Each command runs on its own,
never two at once, and the script prints what else used the CPU meanwhile.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
from pathlib import Path

from benchlib import accuracy_of, machine_line, mean_stdev, measure, min_median_max, seeds
from tenas_kit.analysis.correlation import correlations
from tenas_kit.lifecycle import choose_archs
from tenas_kit.plugins import registry
from tenas_kit.runfile import read

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TENASKIT = Path(sys.executable).with_name("tenaskit")


def some_seeds(text):
    return seeds(text) if text else []


def rank(tmp, name, archs, selection, args):
    archs_file = Path(tmp) / f"{name}.txt"
    archs_file.write_text("\n".join(archs) + "\n")
    out = Path(tmp) / f"{name}.csv"
    done = measure([str(TENASKIT), "rank", "--space", "nb201", *selection, "--archs", str(archs_file), "--seed", "0",
                    "--data", args.data, "--store", str(Path(tmp) / f"{name}.h5"), "--out", str(out),
                    "--workers", str(args.workers)])
    with open(out) as handle:
        rows = list(csv.DictReader(handle))
    ms = 1000 * done.seconds / len(archs)
    print(f"{name}: {len(archs)} architectures in {done.seconds:.1f} s = {ms:.0f} ms each; {done.memory_text()}; "
          f"{done.cpu_text()}", flush=True)
    return rows, ms


def tau_line(label, values, accuracy):
    r = correlations(values, accuracy)
    return (f"{label:>28}: Kendall tau {r['tau']:+.3f} [{r['tau_low']:+.3f}, {r['tau_high']:+.3f}]  "
            f"Spearman rho {r['rho']:+.3f}")


def ranking_part(args, space, table):
    archs = choose_archs(space, sample=args.sample, seed=0)
    preset = registry().get("preset", "best")
    with tempfile.TemporaryDirectory() as tmp:
        best_rows, best_ms = rank(tmp, "best", archs, ["--preset", "best"], args)
        _, tenas_ms = rank(tmp, "tenas", archs[:args.tenas_cells], ["--proxies", "ntk,regions"], args)
    accuracy = [table(row["arch"]) for row in best_rows]
    print(f"cost per architecture: best {best_ms:.0f} ms, ntk,regions {tenas_ms:.0f} ms: "
          f"best costs {best_ms / tenas_ms:.3f} of TE-NAS's pair ({tenas_ms / best_ms:.1f}x cheaper)")
    # The combined column is lower-better; negate it so that tau is positive when the order is right.
    print(tau_line(f"best ({preset.combine})", [-float(r["rank_sum"]) for r in best_rows], accuracy))
    for name, _ in preset.proxies:
        higher = registry().get("proxy", name).higher_is_better
        values = [float(r[name]) if higher else -float(r[name]) for r in best_rows]
        print(tau_line(name, values, accuracy))


def search(tmp, name, selection, seed, args, space, table):
    out = Path(tmp) / f"{name}-{seed}.h5"
    done = measure([str(TENASKIT), "run", "--space", args.space, *selection, "--seed", str(seed), "--data", args.data,
                    "--out", str(out), "--workers", str(args.workers)])
    arch = read(out)["architecture"]
    accuracy = table(arch) if args.space == "nb201" else None
    shown = f"{accuracy:.2f}" if accuracy is not None else "-"
    print(f"{name} seed {seed}: {arch}  accuracy {shown}  {done.seconds:.0f} s; {done.memory_text()}; "
          f"{done.cpu_text()}", flush=True)
    return accuracy, done.seconds


def search_part(args, space, table):
    found = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, selection, chosen in (("best", ["--preset", "best"], args.seeds),
                                        ("exact TE-NAS", ["--proxies", "ntk,regions"], args.exact_seeds)):
            found[name] = [search(tmp, name, selection, seed, args, space, table) for seed in chosen]
    for name, results in found.items():
        if results:
            print(f"{name}: accuracy {mean_stdev([a for a, _ in results])}; wall time "
                  f"{min_median_max([s for _, s in results], unit=' s')}")
    if found["best"] and found["exact TE-NAS"]:
        ratio = statistics.median(s for _, s in found["best"]) / statistics.median(s for _, s in found["exact TE-NAS"])
        print(f"median search time: best / exact TE-NAS = {ratio:.3f} ({1 / ratio:.1f}x faster)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--tenas-cells", type=int, default=60, help="architectures ntk,regions ranks for its cost")
    parser.add_argument("--seeds", type=some_seeds, default=seeds("0-4"), help="searches with the preset")
    parser.add_argument("--exact-seeds", type=some_seeds, default=seeds("0"), help="exact TE-NAS searches")
    parser.add_argument("--no-ranking", action="store_true")
    parser.add_argument("--darts", action="store_true", help="one DARTS search with the preset (seed 0)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", default=str(SHARED / "cifar10-jpg-mini" / "train"))
    parser.add_argument("--table", default=str(SHARED / "nb201_cifar10_accuracy.csv"))
    args = parser.parse_args()
    args.space = "nb201"
    space, table = registry().get("space", "nb201"), accuracy_of(args.table)
    print(machine_line())
    print(f"--workers {args.workers}, data {args.data}", flush=True)
    if not args.no_ranking:
        ranking_part(args, space, table)
    search_part(args, space, table)
    if args.darts:
        args.space = "darts"
        with tempfile.TemporaryDirectory() as tmp:
            search(tmp, "best (DARTS)", ["--preset", "best"], 0, args, registry().get("space", "darts"), table)


if __name__ == "__main__":
    main()
