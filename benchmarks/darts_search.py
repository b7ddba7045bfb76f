"""DARTS-space TE-NAS search benchmark: wall time, genotype and its evaluation network's size.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/darts_search.py --seed 0
"""

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tenas_kit.plugins import registry
from tenas_kit.runfile import read

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=str(SHARED / "cifar10-jpg-mini" / "train"))
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--extra", default="", help="extra tenaskit run options")
    args = parser.parse_args()
    tenaskit = Path(sys.executable).with_name("tenaskit")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "darts.h5"
        command = [str(tenaskit), "run", "--space", "darts", "--proxies", "ntk,regions", "--data", args.data,
                   "--dataset", args.dataset, "--seed", str(args.seed), "--out", str(out), *args.extra.split()]
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        run = read(out)
    space = registry().get("space", "darts")
    preset = registry().get("dataset", args.dataset)
    network = space.network(space.arch_to_mask(space.parse(run["architecture"])), "evaluation", preset.num_classes)
    params = sum(p.numel() for name, p in network.named_parameters() if "auxiliary" not in name)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
    print(f"seed {args.seed} on {args.data} ({args.dataset})")
    print(f"wall time: {seconds:.0f} s ({seconds / 60:.1f} min), peak RSS {peak:.2f} GiB")
    print(f"rounds: {len(run['rounds'])}, seconds per round: {[round(r['seconds']) for r in run['rounds']]}")
    print(f"genotype: {run['architecture']}")
    print(f"evaluation network parameters (auxiliary head excluded): {params:,} ({params / 1e6:.2f} M)")


if __name__ == "__main__":
    main()
