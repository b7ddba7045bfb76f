"""What fingerprinting the images' content costs, next to opening and decoding them.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/fingerprint.py

Builds, once, under ``--root`` (default /tmp/tenaskit-fingerprint):

- ``folder/``: an ImageFolder of ``--files`` JPEG files, copies of the real
  CIFAR-10 images of ``--source`` (../shared/data/cifar10-jpg-mini/train)
  repeated under new names;
- ``cifar/cifar-10-batches-py/``: a CIFAR-10 training set in its pickle
  format, ``--cifar`` images in five batches, the decoded ``--source`` images
  repeated.

Then times, ``--repeat`` times each, in this process (the files stay in the
page cache after the first pass, as they do between the commands of a
session): opening each source as ``--data`` does, its fingerprint as
tenas-kit computes it now (every file's bytes; the decoded pixels and labels),
the fingerprint of before (file names and sizes; the pixels alone), and, for
the folder, opening it and decoding every image, which hashing the decoded
images instead of the files would cost. Prints min / median / max seconds and
each median as a multiple of opening the source.
"""

import argparse
import hashlib
import pickle
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import busy_cpu_seconds, machine_line, own_cpu_seconds  # noqa: E402
from tenas_kit import plugins  # noqa: E402
from tenas_kit.data import open_images  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def build_folder(target, source, count):
    if target.is_dir() and sum(1 for _ in target.rglob("*.jpg")) == count:
        return
    shutil.rmtree(target, ignore_errors=True)
    files = sorted(source.rglob("*.jpg"))
    for i in range(count):
        original = files[i % len(files)]
        (target / original.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original, target / original.parent.name / f"{i:06d}.jpg")


def build_cifar(target, source, count):
    folder = target / "cifar-10-batches-py"
    if all((folder / f"data_batch_{i}").is_file() for i in range(1, 6)):
        return
    folder.mkdir(parents=True, exist_ok=True)
    files = sorted(source.rglob("*.jpg"))
    classes = sorted({f.parent.name for f in files})
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB")).transpose(2, 0, 1).reshape(-1) for f in files])
    labels = np.array([classes.index(f.parent.name) for f in files])
    picks = np.arange(count) % len(files)
    for b, chunk in enumerate(np.array_split(picks, 5), start=1):
        batch = {b"batch_label": f"training batch {b} of 5".encode(), b"labels": labels[chunk].tolist(),
                 b"data": pixels[chunk], b"filenames": [f"{i:06d}.png".encode() for i in chunk]}
        with open(folder / f"data_batch_{b}", "wb") as handle:
            pickle.dump(batch, handle, protocol=2)


def names_and_sizes(images):
    """The fingerprint of a FileImages before content hashing (reproduced as it was)."""
    digest = hashlib.sha1(str(images.resolution).encode())
    for path in images.files:
        digest.update(f"{path.relative_to(images.root)}:{path.stat().st_size};".encode())
    return digest.hexdigest()


def pixels_alone(images):
    """The fingerprint of a TensorImages before labels were hashed with the pixels (as it was)."""
    return hashlib.sha1(images.images.numpy().tobytes()).hexdigest()


def timed(function, repeat):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def line(label, times, reference=None):
    text = f"  {label:<44} {min(times):7.3f} / {statistics.median(times):7.3f} / {max(times):7.3f} s"
    if reference is not None:
        text += f"   {statistics.median(times) / statistics.median(reference):5.2f}x opening"
    print(text, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/tenaskit-fingerprint"))
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared/data/cifar10-jpg-mini/train")
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--cifar", type=int, default=50000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    build_folder(args.root / "folder", args.source, args.files)
    build_cifar(args.root / "cifar", args.source, args.cifar)
    registry = plugins.registry()
    cifar10 = registry.get("dataset", "cifar10")

    def opened(path):
        return open_images(registry, str(path), cifar10)

    def fingerprint(images):
        return type(images).fingerprint.func(images)  # the cached property's function: computed afresh each time

    def compare(title, path, opening_label, measures):
        print(f"\n{title}, --data {path}: min / median / max of {args.repeat}")
        images = opened(path)
        opening = timed(lambda: opened(path), args.repeat)
        line(opening_label, opening)
        for label, measure in measures:
            line(label, timed(lambda: measure(images), args.repeat), opening)

    print(machine_line())
    busy, own = busy_cpu_seconds(), own_cpu_seconds()
    started = time.perf_counter()
    folder, cifar = args.root / "folder", args.root / "cifar"
    megabytes = sum(f.stat().st_size for f in folder.rglob("*.jpg")) / 2**20
    compare(f"{args.files} JPEG files ({megabytes:.1f} MiB)", folder, "open (list the files)", [
        ("fingerprint before (names and sizes)", names_and_sizes),
        ("fingerprint now (every file's bytes)", fingerprint),
        ("open and decode every image", lambda images: opened(folder).load(np.arange(len(images)))),
    ])
    compare(f"CIFAR-10 pickles, {args.cifar} images in 5 batches", cifar, "open (unpickle the batches)", [
        ("fingerprint before (pixels)", pixels_alone),
        ("fingerprint now (pixels and labels)", fingerprint),
    ])

    elapsed = time.perf_counter() - started
    if busy is not None:
        others = (busy_cpu_seconds() - busy - (own_cpu_seconds() - own)) / elapsed
        print(f"\nother processes used {others:.2f} of the cores on average meanwhile")


if __name__ == "__main__":
    main()
