"""Cross-check of R_N's correlation with an independent implementation written from the spec.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/regions_crosscheck.py --sample 300

Nothing here imports tenas-kit's networks or data pipeline: the thin NAS-Bench-201
cell, the image pipeline (torchvision RandomCrop(3) -> ToTensor -> Normalize ->
one random channel, a fresh shuffled draw of 3 x 1000 crops per architecture and
repeat) and the count (the pairwise Hamming-matrix formula) follow TENAS.md
section 1 directly. It prints Kendall tau of this R_N and of tenas-kit's
`regions` proxy against CIFAR-10 accuracy on the same sampled architectures, so
a difference in the correlation can be told apart from a difference in the
sample.
"""

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from scipy.stats import kendalltau
from torchvision import datasets, transforms

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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--data", default=str(SHARED / "cifar10-jpg-mini" / "train"))
    parser.add_argument("--table", default=str(SHARED / "nb201_cifar10_accuracy.csv"))
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    pipeline = transforms.Compose([transforms.RandomCrop(3), transforms.ToTensor(), transforms.Normalize(MEAN, STD),
                                   RandomChannel()])
    images = datasets.ImageFolder(args.data, pipeline)
    batches = endless(torch.utils.data.DataLoader(images, batch_size=1000, shuffle=True, drop_last=True))
    with open(args.table) as handle:
        accuracy = {row["arch"]: float(row["cifar10_test_acc"]) for row in csv.DictReader(handle)}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.csv"
        subprocess.run([str(Path(sys.executable).with_name("tenaskit")), "rank", "--space", "nb201", "--proxies",
                        "regions", "--sample", str(args.sample), "--seed", "0", "--data", args.data, "--store",
                        str(Path(tmp) / "s.h5"), "--out", str(out)], check=True, capture_output=True)
        with open(out) as handle:
            rows = list(csv.DictReader(handle))
    ours = [float(r["regions"]) for r in rows]
    archs = [r["arch"] for r in rows]
    independent = []
    for arch in archs:
        ops = [item.split("~")[0] for group in arch.split("+") for item in group.strip("|").split("|")]
        independent.append(regions(ops, batches))
    acc = [accuracy[a] for a in archs]
    print(f"{len(archs)} architectures (distinct cells of a {args.sample}-sample, seed 0)")
    print(f"Kendall tau vs accuracy: tenas-kit regions {kendalltau(ours, acc)[0]:+.3f}, "
          f"independent R_N {kendalltau(independent, acc)[0]:+.3f}; "
          f"tau between the two {kendalltau(ours, independent)[0]:+.3f}")


if __name__ == "__main__":
    main()
