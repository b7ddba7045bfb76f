"""NAS-Bench-201's measured accuracies, shipped with the space: the benchmark table ``nb201``.

``accuracy.csv.gz`` holds every cell's test accuracy (%) after 200 epochs on CIFAR-10, CIFAR-100 and
ImageNet16-120, the mean over NATS-Bench's seeds, one row per cell in NATS-Bench's index order. It is
built by ``tools/build_nb201_table.py`` from a public export of NATS-Bench's topology results; provenance
and licence: docs/benchmark-tables.md. Nothing is downloaded.
"""

import csv
import functools
import gzip
from importlib import resources

FILE = "accuracy.csv.gz"


class NB201Accuracy:
    name = "nb201"
    space = "nb201"
    metrics = ("cifar10", "cifar100", "imagenet16-120")
    description = ("NAS-Bench-201 (NATS-Bench topology): test accuracy (%) of all 15625 cells after 200 epochs "
                   "on cifar10, cifar100, imagenet16-120")

    def load(self):
        return dict(_rows())


@functools.cache
def _rows():
    with resources.files(__package__).joinpath(FILE).open("rb") as raw, gzip.open(raw, "rt", newline="") as text:
        reader = csv.reader(text)
        metrics = next(reader)[1:]
        return {row[0]: dict(zip(metrics, map(float, row[1:]))) for row in reader}
