"""Input that must never run code or crash: architecture strings (property-based), pickle batches,
and images of odd sizes and modes."""

import os
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tenas_kit.data import open_images, sample_batch
from tenas_kit.errors import TenasError, TenasRuntimeError

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
GENOTYPE = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
            "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
            "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
NB201_TOKENS = ["|", "+", "~", "0", "1", "2", "3", " ", "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3",
                "avg_pool_3x3", "nor_conv_5x5", "\n"]
DARTS_TOKENS = ["Genotype(", ")", "normal=", "reduce=", "normal_concat=", "reduce_concat=", "[", "]", "(", ",", " ",
                "'sep_conv_3x3'", "'skip_connect'", "'max_pool_3x3'", "'none'", "0", "1", "2", "5", "-1", "range(2, 6)",
                "[2, 3, 4, 5]", "__import__('os')", "*", "lambda: 0", "1e999", "'x' * 9", "{", "}"]
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def mutations(valid, tokens):
    """Strings near a valid one: a slice of it with tokens spliced in."""
    return st.tuples(st.integers(0, len(valid)), st.integers(0, len(valid)), st.lists(st.sampled_from(tokens), max_size=4)).map(
        lambda t: valid[: min(t[:2])] + "".join(t[2]) + valid[max(t[:2]):])


def strings(valid, tokens):
    return st.one_of(st.text(max_size=120), st.lists(st.sampled_from(tokens), max_size=40).map("".join),
                     mutations(valid, tokens), st.just(valid))


def parses_or_says_why(space, text):
    """Either an architecture that formats back and re-parses equal, or a TenasError; nothing else."""
    try:
        arch = space.parse(text)
    except TenasError:
        return False
    assert space.parse(space.format(arch)) == arch
    return True


@PROPERTY
@given(text=strings(BEST, NB201_TOKENS))
def test_any_nb201_string_parses_or_is_a_clear_error(registry, text):
    parses_or_says_why(registry.get("space", "nb201"), text)


@PROPERTY
@given(text=strings(GENOTYPE, DARTS_TOKENS))
def test_any_darts_genotype_string_parses_or_is_a_clear_error(registry, text):
    parses_or_says_why(registry.get("space", "darts"), text)


def test_the_valid_strings_do_parse(registry):
    assert parses_or_says_why(registry.get("space", "nb201"), BEST)
    assert parses_or_says_why(registry.get("space", "darts"), GENOTYPE)


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def cifar_root(tmp_path, entry):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(pickle.dumps(entry, protocol=2))
    return str(tmp_path)


def test_malicious_cifar_pickle_is_refused_before_it_runs(tmp_path, registry):
    marker = tmp_path / "pwned"
    root = cifar_root(tmp_path, {b"data": Evil(marker), b"labels": [0]})
    with pytest.raises(TenasRuntimeError, match="refused to load global 'posix.system'"):
        open_images(registry, root, registry.get("dataset", "cifar10"))
    assert not marker.exists()
    pickle.loads((tmp_path / "cifar-10-batches-py" / "data_batch_1").read_bytes())  # plain pickle would run it
    assert marker.exists()


def test_malicious_imagenet16_pickle_is_refused(tmp_path, registry):
    marker = tmp_path / "pwned"
    (tmp_path / "train_data_batch_1").write_bytes(pickle.dumps({"data": Evil(marker), "labels": [1]}))
    with pytest.raises(TenasRuntimeError, match="refused to load global"):
        open_images(registry, str(tmp_path), registry.get("dataset", "imagenet16-120"))
    assert not marker.exists()


def test_a_genuine_cifar_batch_loads(tmp_path, registry):
    pixels = np.random.default_rng(0).integers(0, 256, (10, 3 * 32 * 32), dtype=np.uint8)
    root = cifar_root(tmp_path, {b"batch_label": b"training batch 1 of 5", b"data": pixels, b"labels": list(range(10)),
                                 b"filenames": [b"x.png"] * 10})
    images = open_images(registry, root, registry.get("dataset", "cifar10"))
    assert len(images) == 10 and images.description.startswith("CIFAR10 training split")
    assert np.array_equal(images.load([3]).numpy().reshape(-1), pixels[3])
    assert images.labels([4]).tolist() == [4]


@pytest.mark.parametrize("mode, size", [("L", (32, 32)), ("RGBA", (40, 20)), ("1", (1, 1)), ("P", (7, 300)),
                                        ("I;16", (16, 16)), ("CMYK", (33, 33)), ("LA", (2, 2))])
def test_images_of_odd_sizes_and_modes_load_as_rgb_at_the_resolution(tmp_path, registry, mode, size):
    folder = tmp_path / "images"
    folder.mkdir()
    suffix = ".tif" if mode == "CMYK" else ".png"
    Image.new(mode, size).save(folder / f"odd{suffix}")
    dataset = registry.get("dataset", "cifar10")
    images = open_images(registry, str(folder), dataset)
    batch = sample_batch(images, dataset, 2, np.random.default_rng(0))
    assert batch.shape == (2, 3, 32, 32) and np.isfinite(batch.numpy()).all()
