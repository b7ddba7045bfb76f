"""Normalisation and class counts as NAS-Bench-201 and TE-NAS use them."""

from tenas_kit.data import Dataset


def _scaled(values):
    return tuple(v / 255 for v in values)


DATASETS = (
    Dataset("cifar10", _scaled((125.3, 123.0, 113.9)), _scaled((63.0, 62.1, 66.7)), 10, 32, 4, "CIFAR-10"),
    Dataset("cifar100", _scaled((129.3, 124.1, 112.4)), _scaled((68.2, 65.4, 70.4)), 100, 32, 4, "CIFAR-100"),
    Dataset(
        "imagenet16-120", _scaled((122.68, 116.66, 104.01)), _scaled((63.22, 61.26, 65.09)), 120, 16, 2,
        "ImageNet16-120 (NAS-Bench-201's 16x16 ImageNet subset, 120 classes)",
    ),
    Dataset(
        "imagenet", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 1000, 32, 4,
        "ImageNet-1k, resized to 32x32 during search as TE-NAS does",
    ),
)
