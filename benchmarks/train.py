"""Training a found cell: tenas-kit's overhead against a plain PyTorch loop, a short budget that ranks three
NAS-Bench-201 cells of known accuracy, and (on a GPU) both recipes at full size.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/train.py throughput     # images/s: tenas-kit against a plain loop, NB201 and DARTS
    .venv/bin/python benchmarks/train.py rank           # three NB201 cells on a short budget, against the table
    .venv/bin/python benchmarks/train.py full --data CIFAR10_ROOT   # GPU: the nb201 recipe on the all-3x3 cell
                                                        # (table: 93.76); the darts recipe's images/s and 600 epochs

throughput: the same network (same weights), the same images in memory, the same batches and the same work per
step (crop and flip, normalisation; for DARTS cutout, drop path, the auxiliary loss and gradient clipping) in a
loop of plain PyTorch, and through ``tenas_kit.train`` (which adds the seeded draws, the signal-safe step, the
bookkeeping, an evaluation and a checkpoint per epoch). Runs alternate, A B A B, and the medians are compared: the
steps' images/s (what tenas-kit records per epoch), and whole epochs with their evaluation and checkpoint.

rank: each cell trained with the nb201 recipe shortened (--epochs, --channels, --cells) on the shared 5000 CIFAR-10
images, 10% held out, all cells on the same images; their held-out accuracies must order them as the table does.

full: the nb201 recipe, unchanged, on the all-3x3 cell and a CIFAR-10 root (the table's 93.76 is the mean of the
benchmark's seeds; within 0.3 is the target), and the darts recipe for --darts-epochs epochs to measure images/s
and project 600 epochs.

Printed besides: the machine, commit and load before starting, the cores other processes used meanwhile.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchlib import busy_cpu_seconds, machine_line, own_cpu_seconds

import tenas_kit
from tenas_kit.training.lifecycle import TrainReporter, Training

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10-jpg-mini" / "train"
ALL_3X3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
MIXED = "|nor_conv_1x1~0|+|avg_pool_3x3~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|avg_pool_3x3~2|"
ALL_POOL = "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|"
DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


class Others:
    """Cores other processes kept busy while a block ran."""

    def __enter__(self):
        self.busy, self.own, self.started = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        seconds = time.perf_counter() - self.started
        own = own_cpu_seconds() - self.own
        self.cores = None if self.busy is None else max(0.0, (busy_cpu_seconds() - self.busy - own) / seconds)


def plain(training, epochs):
    """The same training in plain PyTorch: ``(step images/s per epoch, seconds per epoch)``."""
    fields, dataset, device = training.fields, training.dataset, training.device
    network = training.build().to(device).train()
    optimiser = torch.optim.SGD(network.parameters(), lr=fields["lr"], momentum=fields["momentum"],
                                weight_decay=fields["weight_decay"], nesterov=fields["nesterov"])
    pixels, labels = training.splits.train.pixels().to(device), training.splits.train.labels.to(device)
    tests, test_labels = training.splits.evaluation.pixels().to(device), training.splits.evaluation.labels.to(device)
    mean = torch.tensor(dataset.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(dataset.std, device=device).view(1, 3, 1, 1)
    network.compute_auxiliary = bool(fields["auxiliary_weight"])
    pad, size, n, side = dataset.crop_padding, fields["batch_size"], len(labels), dataset.resolution
    rates, seconds = [], []
    for epoch in range(epochs):
        for group in optimiser.param_groups:
            group["lr"] = fields["lr"] * (1 + np.cos(np.pi * epoch / fields["epochs"])) / 2
        if hasattr(network, "drop_path_prob"):
            network.drop_path_prob = fields["drop_path"] * epoch / fields["epochs"]
        started = time.perf_counter()
        order = torch.randperm(n, device=device)
        for start in range(0, n - 1, size):
            index = order[start:start + size]
            x = pixels[index]
            flip = torch.rand(len(index), device=device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            x = crop(F.pad(x, (pad,) * 4), torch.randint(0, 2 * pad + 1, (2, len(index)), device=device), side)
            x = (x.float() / 255 - mean) / std
            if fields["cutout"]:
                x = x * keep(torch.randint(0, side, (2, len(index)), device=device), fields["cutout"] // 2, side)
            logits = network(x)
            loss = F.cross_entropy(logits, labels[index])
            if fields["auxiliary_weight"]:
                loss = loss + fields["auxiliary_weight"] * F.cross_entropy(network.auxiliary_logits, labels[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            if fields["grad_clip"]:
                torch.nn.utils.clip_grad_norm_(network.parameters(), fields["grad_clip"])
            optimiser.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(n / (time.perf_counter() - started))
        network.eval()
        with torch.no_grad():
            for start in range(0, len(tests), 500):
                logits = network((tests[start:start + 500].float() / 255 - mean) / std)
                logits.argmax(1).eq(test_labels[start:start + 500]).sum().item()
        network.train()
        seconds.append(time.perf_counter() - started)
    return rates, seconds


def crop(padded, shifts, side):
    """Each image's own ``side`` x ``side`` window of the padded batch, at ``shifts`` (rows, columns)."""
    span = torch.arange(side, device=padded.device)
    rows, cols = (shifts[0][:, None] + span)[:, None, :, None], (shifts[1][:, None] + span)[:, None, None, :]
    batch = torch.arange(len(padded), device=padded.device)[:, None, None, None]
    return padded[batch, torch.arange(3, device=padded.device)[None, :, None, None], rows, cols]


def keep(centres, half, side):
    """1 outside each image's cutout square, 0 inside."""
    span = torch.arange(side, device=centres.device)
    inside = [(span >= (c - half).clamp(min=0)[:, None]) & (span < (c + half)[:, None]) for c in centres]
    return (~(inside[0][:, :, None] & inside[1][:, None, :]))[:, None].float()


def ours(training):
    """``(step images/s per epoch, seconds per epoch, share of a step spent on its batch)`` of
    ``tenas_kit.train``'s run, as its file records them."""
    result = training.run()
    return result.epochs["images_per_second"], result.epochs["seconds"], result.epochs["data_share"]


def throughput(args):
    cases = [("nb201", ALL_3X3, dict(channels=16, cells=5, batch_size=64)),
             ("darts", DARTS_V2, dict(channels=args.darts_channels, cells=args.darts_cells, batch_size=64))]
    for name, cell, sizes in cases:
        runs = {"tenas-kit": [], "plain": []}
        cores = []
        with tempfile.TemporaryDirectory() as folder:
            for repeat in range(args.repeats):
                for who in ("tenas-kit", "plain"):
                    training = Training(arch=cell, data=args.data, subset=args.subset, epochs=args.epochs,
                                        holdout=args.holdout, device=args.device,
                                        out=Path(folder) / f"{name}-{repeat}.h5", **sizes)
                    with Others() as others:
                        runs[who].append(ours(training) if who == "tenas-kit" else plain(training, args.epochs))
                    cores.append(others.cores)
        report_throughput(name, sizes, runs, cores, args)


def report_throughput(name, sizes, runs, cores, args):
    # The first epoch of each run warms caches and allocators: it is left out.
    steps = {who: statistics.median(r for rates, *_ in done for r in rates[1:]) for who, done in runs.items()}
    epochs = {who: statistics.median(s for _, seconds, *_ in done for s in seconds[1:]) for who, done in runs.items()}
    share = statistics.median(s for *_, shares in runs["tenas-kit"] for s in shares[1:])
    print(f"\n{name} ({sizes}, {args.subset} images, {args.epochs} epochs x {args.repeats} runs each, "
          f"{torch.get_num_threads()} threads, {args.device})")
    print(f"  steps:        tenas-kit {steps['tenas-kit']:.1f} images/s, plain {steps['plain']:.1f} images/s: "
          f"overhead {100 * (steps['plain'] / steps['tenas-kit'] - 1):+.1f}%")
    print(f"  whole epochs: tenas-kit {epochs['tenas-kit']:.2f} s, plain {epochs['plain']:.2f} s (with evaluation; "
          f"tenas-kit's with its checkpoint): {100 * (epochs['tenas-kit'] / epochs['plain'] - 1):+.1f}%")
    print(f"  share of a tenas-kit step spent assembling its batch: {100 * share:.1f}%")
    known = [c for c in cores if c is not None]
    if known:
        print(f"  other processes used {min(known):.2f} to {max(known):.2f} cores meanwhile")


def rank(args):
    table = {ALL_3X3: 93.76, MIXED: 87.15, ALL_POOL: 49.02}  # NAS-Bench-201, CIFAR-10, 200 epochs (nb201 table)
    found = {}
    with tempfile.TemporaryDirectory() as folder, Others() as others:
        for i, cell in enumerate(table):
            started = time.perf_counter()
            result = tenas_kit.train(cell, data=args.data, epochs=args.epochs, channels=args.channels,
                                     cells=args.cells, batch_size=args.batch_size, device=args.device,
                                     out=Path(folder) / f"{i}.h5")
            found[cell] = result.accuracy
            print(f"  {result.accuracy:6.2f}% held out (table {table[cell]:.2f}) after {args.epochs} epochs, "
                  f"{time.perf_counter() - started:.0f} s: {cell}")
    order = sorted(table, key=found.get, reverse=True)
    print(f"order as the table's: {order == sorted(table, key=table.get, reverse=True)}; other processes used "
          f"{others.cores:.2f} cores" if others.cores is not None else "")


def full(args):
    started = time.perf_counter()
    result = tenas_kit.train(ALL_3X3, data=args.data, device=args.device, out=args.out / "nb201-all-3x3.h5")
    print(f"nb201 recipe, all-3x3 cell: {result.accuracy:.2f}% on the test split (table 93.76, target within 0.3: "
          f"{abs(result.accuracy - 93.76) <= 0.3}), {time.perf_counter() - started:.0f} s, "
          f"{statistics.median(result.epochs['images_per_second']):.0f} images/s")
    timed = StopAfter(args.darts_epochs)
    try:
        tenas_kit.train(DARTS_V2, data=args.data, device=args.device, out=args.out / "darts-v2.h5", reporter=timed)
    except Enough:
        pass
    rates, seconds = timed.records["images_per_second"], timed.records["seconds"]
    print(f"darts recipe, DARTS V2: {statistics.median(rates):.0f} images/s, {statistics.median(seconds):.1f} s per "
          f"epoch: 600 epochs in about {600 * statistics.median(seconds) / 3600:.1f} h")


class StopAfter(TrainReporter):
    """Ends a run after a few epochs, keeping what they recorded (the run's .partial stays, to resume)."""

    def __init__(self, epochs):
        self.epochs, self.records = epochs, {}

    def epoch_finished(self, epoch, record):
        for key, value in record.items():
            self.records.setdefault(key, []).append(value)
        if epoch + 1 >= self.epochs:
            raise Enough


class Enough(Exception):
    pass


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["throughput", "rank", "full"])
    parser.add_argument("--data", default=str(SHARED))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch threads on a CPU (default 1: a shared machine)")
    parser.add_argument("--subset", type=int, default=640, help="throughput: training images per epoch")
    parser.add_argument("--epochs", type=int, default=None, help="throughput: 3 (first left out); rank: 15")
    parser.add_argument("--repeats", type=int, default=2, help="throughput: runs of each, alternating")
    parser.add_argument("--holdout", type=float, default=0.02, help="throughput: share evaluated each epoch")
    parser.add_argument("--darts-channels", type=int, default=16)
    parser.add_argument("--darts-cells", type=int, default=8)
    parser.add_argument("--channels", type=int, default=16, help="rank: the NB201 network's C")
    parser.add_argument("--cells", type=int, default=1, help="rank: the NB201 network's N")
    parser.add_argument("--batch-size", type=int, default=128, help="rank")
    parser.add_argument("--darts-epochs", type=int, default=2, help="full: DARTS epochs timed")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark-train"), help="full: where its files go")
    args = parser.parse_args()
    args.epochs = args.epochs or {"throughput": 3, "rank": 15}.get(args.part)
    torch.set_num_threads(args.threads)
    print(machine_line())
    {"throughput": throughput, "rank": rank, "full": full}[args.part](args)


if __name__ == "__main__":
    main()
