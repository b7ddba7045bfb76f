import csv
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import CIFAR_MINI, NB201_TABLE, needs_shared, tenaskit
from tenas_kit.data import augment, normalise, open_images, sample_batch
from tenas_kit.errors import TenasError
from tenas_kit.runfile import read


def cifar10(registry):
    return registry.get("dataset", "cifar10")


def test_image_folder_of_other_sizes_is_resized(tmp_path, registry):
    for cls, size in (("a", (64, 48)), ("b", (20, 20))):
        (tmp_path / cls).mkdir()
        Image.new("RGB", size, (200, 10, 10)).save(tmp_path / cls / "x.png")
    images = open_images(registry, str(tmp_path), cifar10(registry))
    batch = images.load(np.array([0, 1]))
    assert batch.shape == (2, 3, 32, 32) and batch.dtype == torch.uint8
    assert batch[:, 0].float().mean() > 150 and batch[:, 1].float().mean() < 40


def test_unreadable_image_is_a_clear_error(tmp_path, registry):
    (tmp_path / "bad.jpg").write_text("not an image")
    images = open_images(registry, str(tmp_path), cifar10(registry))
    with pytest.raises(TenasError, match="cannot read image"):
        images.load(np.array([0]))


@needs_shared
def test_image_folder_decodes_each_file_once_per_process(registry, monkeypatch):
    images = open_images(registry, str(CIFAR_MINI), cifar10(registry))
    indices = np.array([7, 4000, 7, 123])
    first = images.load(indices)
    expected = torch.stack([torch.from_numpy(np.array(Image.open(images.files[i]).convert("RGB"))).permute(2, 0, 1)
                            for i in indices])
    assert torch.equal(first, expected)
    opened = []
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(a) or pytest.fail("decoded again"))
    first[:] = 0  # a caller changing its batch must not change what the next batch gets
    assert torch.equal(images.load(indices[::-1]), expected.flip(0)) and not opened


def test_cifar_root_is_recognised_and_corrupt_files_are_a_clear_error(tmp_path, registry):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    (root / "data_batch_1").write_bytes(b"not a pickle")
    assert registry.get("data_source", "cifar").claims(str(tmp_path))
    # torchvision verifies the files' checksums: a damaged root must give one clear line.
    with pytest.raises(TenasError, match="cannot read CIFAR data"):
        open_images(registry, str(tmp_path), cifar10(registry))


def test_imagenet16_pickles_keep_120_classes(tmp_path, registry):
    labels = [1, 50, 120, 121, 500, 3]
    data = np.arange(6 * 768, dtype=np.uint32).reshape(6, 768).astype(np.uint8)
    with open(tmp_path / "train_data_batch_1", "wb") as handle:
        pickle.dump({"data": data, "labels": labels}, handle)
    preset = registry.get("dataset", "imagenet16-120")
    images = open_images(registry, str(tmp_path), preset)
    assert len(images) == 4
    assert images.load(np.array([0])).shape == (1, 3, 16, 16)


def test_embedded_stand_in_is_deterministic_real_photographs(registry):
    a = open_images(registry, "embedded", cifar10(registry))
    b = open_images(registry, "embedded", cifar10(registry))
    picks = np.array([0, 1000, 4000])
    assert torch.equal(a.load(picks), b.load(picks))
    batch = a.load(np.arange(len(a))).float()
    # Photographs, not noise: neighbouring pixels are strongly correlated.
    left, right = batch[..., :-1].flatten(), batch[..., 1:].flatten()
    assert np.corrcoef(left, right)[0, 1] > 0.8


def test_explicit_source_prefix_and_unknown_data(registry, tmp_path):
    assert len(open_images(registry, "synthetic:", cifar10(registry))) > 0
    with pytest.raises(TenasError, match="no data source understands"):
        open_images(registry, str(tmp_path / "missing"), cifar10(registry))


def test_augment_flips_and_crops_with_zero_padding():
    images = torch.arange(16, dtype=torch.uint8).view(1, 1, 4, 4).repeat(64, 3, 1, 1)
    out = augment(images, 1, np.random.default_rng(0))
    assert out.shape == images.shape
    assert (out == 0).any()  # some crops include the zero padding
    assert any(torch.equal(o[0], images[0, 0].flip(-1)) for o in out)


def test_normalise_uses_dataset_statistics(registry):
    preset = cifar10(registry)
    white = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    expected = (1 - torch.tensor(preset.mean)) / torch.tensor(preset.std)
    assert torch.allclose(normalise(white, preset)[0, :, 0, 0], expected)
    pixels = torch.randint(0, 256, (4, 3, 6, 6), dtype=torch.uint8)
    plain = (pixels.float() / 255.0 - torch.tensor(preset.mean).view(1, 3, 1, 1)) / torch.tensor(preset.std).view(1, 3, 1, 1)
    assert torch.equal(normalise(pixels, preset), plain)  # bit for bit: scores must not move
    batch = sample_batch(open_images(registry, "synthetic", preset), preset, 5, np.random.default_rng(1))
    assert batch.shape == (5, 3, 32, 32) and batch.dtype == torch.float32


@needs_shared
def test_end_to_end_search_on_real_images_with_benchmark(tmp_path):
    out = tmp_path / "run.h5"
    result = tenaskit("run", "--data", CIFAR_MINI, "--benchmark", NB201_TABLE, "--batch-size", "8",
                      "--repeats", "1", "--out", out)
    assert result.returncode == 0, result.stderr
    # What the command is for: the architecture it found, recorded in the run file, and that
    # architecture's row of the benchmark table, both printed; the rerun reads them from the file.
    run = read(out)
    assert run["config"]["data"] == str(CIFAR_MINI) and str(CIFAR_MINI) in run["data"]  # the real images
    arch = run["architecture"]
    with open(NB201_TABLE, newline="") as handle:
        table = {row["arch"]: float(row["cifar10_test_acc"]) for row in csv.DictReader(handle)}
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert f"architecture: {arch}" in lines
    assert f"benchmark accuracy (cifar10_test_acc): {table[arch]:.2f}" in lines
    again = tenaskit("run", "--data", CIFAR_MINI, "--benchmark", NB201_TABLE, "--batch-size", "8",
                     "--repeats", "1", "--out", out)
    assert again.returncode == 0, again.stderr
    lines = [line.strip() for line in again.stdout.splitlines()]
    assert f"already searched: {out}" in lines and f"architecture: {arch}" in lines
    assert f"benchmark accuracy (cifar10_test_acc): {table[arch]:.2f}" in lines
