"""DARTS-space TE-NAS search benchmark: wall time, genotype and its evaluation network's size.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/darts_search.py --seed 0 --workers 2

One ``tenaskit run --space darts --workers N`` search (default settings otherwise;
``--extra`` adds options) into a fresh temporary folder. Printed: the machine,
commit and load before starting; wall time, seconds per round, the peak memory
summed over the search's processes (sampled every 0.2 s), the cores other
processes used meanwhile, the genotype and its evaluation network's parameter
count. One invocation is one measurement: for a spread, repeat it.
"""

import argparse
import sys
import tempfile
from pathlib import Path

from benchlib import machine_line, measure
from tenas_kit.plugins import registry
from tenas_kit.runfile import read

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="tenaskit run --workers (scoring processes)")
    parser.add_argument("--data", default=str(SHARED / "cifar10-jpg-mini" / "train"))
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--extra", default="", help="extra tenaskit run options")
    args = parser.parse_args()
    tenaskit = Path(sys.executable).with_name("tenaskit")
    print(machine_line())
    print(f"seed {args.seed}, --workers {args.workers}, data {args.data} ({args.dataset}), extra: {args.extra or '-'}",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "darts.h5"
        command = [str(tenaskit), "run", "--space", "darts", "--proxies", "ntk,regions", "--data", args.data,
                   "--dataset", args.dataset, "--seed", str(args.seed), "--workers", str(args.workers),
                   "--out", str(out), *args.extra.split()]
        done = measure(command)
        run = read(out)
    space = registry().get("space", "darts")
    preset = registry().get("dataset", args.dataset)
    network = space.network(space.arch_to_mask(space.parse(run["architecture"])), "evaluation", preset.num_classes)
    params = sum(p.numel() for name, p in network.named_parameters() if "auxiliary" not in name)
    print(f"wall time: {done.seconds:.0f} s ({done.seconds / 60:.1f} min); {done.memory_text()}; {done.cpu_text()}")
    rounds = " / ".join(f"{r['seconds']:.0f}" for r in run["rounds"])
    print(f"rounds: {len(run['rounds'])}, seconds per round: {rounds}")
    print(f"genotype: {run['architecture']}")
    print(f"evaluation network parameters (auxiliary head excluded): {params:,} ({params / 1e6:.2f} M)")


if __name__ == "__main__":
    main()
