"""Cross-check of R_N's correlation with an independent implementation written from the spec.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/regions_crosscheck.py --sample 300 --workers 2

Nothing here imports tenas-kit's networks or data pipeline: the thin NAS-Bench-201
cell, the image pipeline (torchvision RandomCrop(3) -> ToTensor -> Normalize ->
one random channel, a fresh shuffled draw of 3 x 1000 crops per architecture and
repeat) and the count (the pairwise Hamming-matrix formula) follow TENAS.md
section 1 directly. It prints Kendall tau of this R_N and of tenas-kit's
`regions` proxy against CIFAR-10 accuracy on the same sampled architectures, so
a difference in the correlation can be told apart from a difference in the
sample, and Kendall tau between the two implementations' values.

With ``--subsamples D``, it also ranks a ``--pool`` of architectures (seed 0)
with tenas-kit's `regions` and draws D subsamples of ``--subsample-size`` of them
(numpy seed 0, without replacement): the median and 95th percentile of R_N's tau
over the draws, and the share of draws reaching ``--reference`` (the reference
code's 0.61 on 100 architectures), tell how likely a sample that small is to
show that figure.
"""

import argparse
import csv
import functools
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from scipy.stats import kendalltau
from torchvision import datasets, transforms
from torchvision.datasets.folder import default_loader

from benchlib import machine_line

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
MEAN, STD = [x / 255 for x in (125.3, 123.0, 113.9)], [x / 255 for x in (63.0, 62.1, 66.7)]


def op_module(name):
    if name == "nor_conv_1x1":
        return nn.Sequential(nn.ReLU(), nn.Conv2d(1, 1, 1, bias=False), nn.BatchNorm2d(1))
    if name == "nor_conv_3x3":
        return nn.Sequential(nn.ReLU(), nn.Conv2d(1, 1, 3, padding=1, bias=False), nn.BatchNorm2d(1))
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    return nn.Identity()  # skip; none is handled by the cell


class ThinCell(nn.Module):
    """One C=1 cell, no stem, then BN + ReLU, pooling, classifier (TENAS.md section 3)."""

    def __init__(self, ops):
        super().__init__()
        self.ops = ops
        self.edges = nn.ModuleList(op_module(op) for op in ops)
        self.last = nn.Sequential(nn.BatchNorm2d(1), nn.ReLU())
        self.classifier = nn.Linear(1, 10)

    def forward(self, x):
        nodes, e = [x], 0
        for target in range(1, 4):
            total = torch.zeros_like(x)
            for source in range(target):
                if self.ops[e] != "none":
                    total = total + self.edges[e](nodes[source])
                e += 1
            nodes.append(total)
        return self.classifier(self.last(nodes[-1]).mean((2, 3)))


def pairwise_regions(codes):
    """Distinct rows by the pairwise formula: sum over samples of 1 / (number of identical rows)."""
    a = codes.float()
    hamming = a @ (1 - a).T
    hamming = hamming + hamming.T
    same = (hamming == 0).float().sum(1)
    return float((1.0 / same).sum())


def regions(ops, loader_iter, repeats=3, batches=3):
    values = []
    for _ in range(repeats):
        net = ThinCell(ops).train()
        captured = []
        hooks = [m.register_forward_hook(lambda m, i, o: captured.append((o > 0).flatten(1)))
                 for m in net.modules() if isinstance(m, nn.ReLU)]
        codes = []
        with torch.no_grad():
            for _ in range(batches):
                captured.clear()
                net(next(loader_iter)[0])
                codes.append(torch.cat(captured, 1) if captured else torch.zeros(1000, 0, dtype=torch.bool))
        for h in hooks:
            h.remove()
        codes = torch.cat(codes)
        values.append(pairwise_regions(codes) if codes.shape[1] else 1.0)
    return float(np.mean(values))


class RandomChannel:
    def __call__(self, image):
        c = int(torch.randint(image.shape[0], (1,)))
        return image[c : c + 1]


def endless(loader):
    while True:
        yield from loader


def tenaskit_regions(sample, args, tmp):
    """tenas-kit's R_N of ``sample`` architectures drawn with seed 0: [(arch, value)], one row per draw."""
    out = Path(tmp) / f"regions{sample}.csv"
    subprocess.run([str(Path(sys.executable).with_name("tenaskit")), "rank", "--space", "nb201", "--proxies",
                    "regions", "--sample", str(sample), "--seed", "0", "--data", args.data, "--store",
                    str(Path(tmp) / "s.h5"), "--out", str(out), "--workers", str(args.workers)],
                   check=True, capture_output=True)
    with open(out) as handle:
        return [(r["arch"], float(r["regions"])) for r in csv.DictReader(handle)]


def subsamples(rows, accuracy, args):
    values = np.array([v for _, v in rows])
    acc = np.array([accuracy[a] for a, _ in rows])
    rng = np.random.default_rng(0)
    taus = np.array([kendalltau(values[i], acc[i])[0] for i in
                     (rng.choice(len(rows), args.subsample_size, replace=False) for _ in range(args.subsamples))])
    print(f"R_N (tenas-kit) on {len(rows)} architectures: tau {kendalltau(values, acc)[0]:+.3f}; over "
          f"{args.subsamples} subsamples of {args.subsample_size}: median {np.median(taus):+.3f}, 95th percentile "
          f"{np.percentile(taus, 95):+.3f}, max {taus.max():+.3f}; tau >= {args.reference} in "
          f"{100 * np.mean(taus >= args.reference):.1f}% of them")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2, help="tenaskit rank --workers (scoring processes)")
    parser.add_argument("--data", default=str(SHARED / "cifar10-jpg-mini" / "train"))
    parser.add_argument("--table", default=str(SHARED / "nb201_cifar10_accuracy.csv"))
    parser.add_argument("--subsamples", type=int, default=0, help="draws of the subsample part (0: skip it)")
    parser.add_argument("--pool", type=int, default=1000, help="architectures the subsamples are drawn from")
    parser.add_argument("--subsample-size", type=int, default=100)
    parser.add_argument("--reference", type=float, default=0.61)
    args = parser.parse_args()
    print(machine_line())
    print(f"--sample {args.sample} (seed 0), --workers {args.workers}, data {args.data}", flush=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    pipeline = transforms.Compose([transforms.RandomCrop(3), transforms.ToTensor(), transforms.Normalize(MEAN, STD),
                                   RandomChannel()])
    # Decoding dominates the run, and every architecture redraws 9000 crops from the same few thousand files;
    # decoding each file once draws no random number, so the crops are the same.
    images = datasets.ImageFolder(args.data, pipeline, loader=functools.lru_cache(maxsize=None)(default_loader))
    batches = endless(torch.utils.data.DataLoader(images, batch_size=1000, shuffle=True, drop_last=True))
    with open(args.table) as handle:
        accuracy = {row["arch"]: float(row["cifar10_test_acc"]) for row in csv.DictReader(handle)}
    with tempfile.TemporaryDirectory() as tmp:
        rows = tenaskit_regions(args.sample, args, tmp)
        pool = tenaskit_regions(args.pool, args, tmp) if args.subsamples else None
    ours = [v for _, v in rows]
    archs = [a for a, _ in rows]
    independent = []
    for arch in archs:
        ops = [item.split("~")[0] for group in arch.split("+") for item in group.strip("|").split("|")]
        independent.append(regions(ops, batches))
    acc = [accuracy[a] for a in archs]
    print(f"{len(archs)} architectures ({len(set(archs))} distinct; a {args.sample}-sample, seed 0)")
    print(f"Kendall tau vs accuracy: tenas-kit regions {kendalltau(ours, acc)[0]:+.3f}, "
          f"independent R_N {kendalltau(independent, acc)[0]:+.3f}; "
          f"tau between the two {kendalltau(ours, independent)[0]:+.3f}")
    if pool:
        subsamples(pool, accuracy, args)


if __name__ == "__main__":
    main()
