"""A number in the score store is a function of its key alone: the store never serves a score computed on
another cell (an isomorph scored first) or on other images (files replaced by others of the same size)."""

import os
import pickle

import numpy as np
import pytest
from PIL import Image

import tenas_kit
from tenas_kit import SearchConfig
from tenas_kit.data import open_images

# Issue 22's reproduction: one isomorphism class, two cells; Y computes 1x1 convolutions on a node that is
# always zero, which params counts and synflow's weights shift on.
X = "|none~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"
Y = "|none~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|nor_conv_1x1~1|skip_connect~2|"
REPRESENTATIVE = "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|skip_connect~2|"  # the class's first cell


def dead_op_config():
    return SearchConfig(space="nb201", proxies=[("synflow", 1.0), ("params", 1.0)], data="synthetic", repeats=1,
                        seed=0)


def rows(ranking):
    return {arch: tuple(ranking.scores[name][i] for name in sorted(ranking.scores))
            for i, arch in enumerate(ranking.archs)}


def test_isomorphs_ranked_in_either_order_into_fresh_stores_get_identical_rows(tmp_path):
    def ranked(store, *requests):
        return [rows(tenas_kit.rank(dead_op_config(), archs=archs, store=tmp_path / store, executor="serial"))
                for archs in requests]

    (x_alone,) = ranked("x.h5", [X])
    y_first, x_after = ranked("yx.h5", [Y], [X])
    (y_alone,) = ranked("y.h5", [Y])
    x_first, y_after = ranked("xy.h5", [X], [Y])
    assert x_alone[X] == x_after[X] == x_first[X]
    assert y_alone[Y] == y_after[Y] == y_first[Y]
    assert x_alone[X] == y_alone[Y]  # one class, one cell scored for it


def test_a_class_is_scored_on_its_representative(tmp_path):
    """Its number is what the proxy gives the representative when that cell is ranked alone."""
    config = dead_op_config()
    alone = rows(tenas_kit.rank(config, archs=[REPRESENTATIVE], store=tmp_path / "r.h5", executor="serial"))
    both = rows(tenas_kit.rank(config, archs=[Y, X], store=tmp_path / "s.h5", executor="serial"))
    assert both[X] == both[Y] == alone[REPRESENTATIVE]
    assert np.isfinite(alone[REPRESENTATIVE]).all()


def test_a_score_stored_by_a_version_that_keyed_the_class_is_not_served(tmp_path, registry, monkeypatch):
    """Older versions stored a class's score under its isomorphism key, computed on whichever member came
    first: such an entry must be recomputed, never served."""
    from tenas_kit import ranker
    from tenas_kit.scorestore import ScoreStore, score_key

    parts = []
    monkeypatch.setattr(ranker, "score_key", lambda **p: parts.append(p) or score_key(**p))
    first = tenas_kit.rank(dead_op_config(), archs=[X], store=tmp_path / "new.h5", executor="serial")
    monkeypatch.undo()
    space = registry.get("space", "nb201")
    old = tmp_path / "old.h5"
    ScoreStore(old).add({score_key(**{**p, "arch": space.canonical(space.parse(X))}): -1.0 for p in parts})
    again = tenas_kit.rank(dead_op_config(), archs=[X], store=old, executor="serial")
    assert again.computed == len(parts) == 2 and rows(again) == rows(first)


def test_a_representative_stands_for_its_whole_class_and_has_the_fewest_ops(registry):
    nb201, darts = registry.get("space", "nb201"), registry.get("space", "darts")
    classes = {}
    for arch in nb201.enumerate():
        classes.setdefault(nb201.canonical(arch), []).append(arch)
    assert len(classes) == 6466
    for members in classes.values():
        (chosen,) = {nb201.representative(a) for a in members}
        assert chosen in members
        assert sum(op != "none" for op in chosen) == min(sum(op != "none" for op in a) for a in members)
    assert nb201.format(nb201.representative(nb201.parse(X))) == REPRESENTATIVE
    genotype = darts.sample(np.random.default_rng(0))
    swapped = genotype._replace(normal=(genotype.normal[1], genotype.normal[0]) + genotype.normal[2:])
    assert darts.representative(swapped) == darts.representative(genotype)
    assert darts.format(darts.representative(swapped)) == darts.canonical(swapped)
    assert (darts.arch_to_mask(darts.representative(swapped)) == darts.arch_to_mask(swapped)).all()


CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def write_noise(path, seed):
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)


def test_an_image_replaced_by_another_of_the_same_name_size_and_time_is_scored_again(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(4):
        write_noise(folder / f"{i}.bmp", i)  # a BMP's size is its width and height: a replacement keeps it
    config = SearchConfig(space="nb201", proxies=[("grad_norm", 1.0)], data=str(folder), repeats=1, seed=0,
                          options={"proxy_batch_size": 4})
    store = tmp_path / "s.h5"
    before = tenas_kit.rank(config, archs=[CELL], store=store, executor="serial")
    replaced = folder / "2.bmp"
    old = replaced.stat()
    write_noise(replaced, 99)
    os.utime(replaced, ns=(old.st_atime_ns, old.st_mtime_ns))  # as `cp -p` or `rsync -t` would leave it
    assert replaced.stat().st_size == old.st_size and replaced.stat().st_mtime_ns == old.st_mtime_ns
    after = tenas_kit.rank(config, archs=[CELL], store=store, executor="serial")
    fresh = tenas_kit.rank(config, archs=[CELL], store=tmp_path / "fresh.h5", executor="serial")
    assert after.computed == 1
    assert after.scores["grad_norm"] == fresh.scores["grad_norm"] != before.scores["grad_norm"]


# -- every built-in source fingerprints what it serves ----------------------------------------------


def pickled(path, images, labels):
    with open(path, "wb") as handle:
        pickle.dump({"data": images.reshape(len(images), -1), "labels": labels}, handle)


def image_folder(root, images, labels):
    for i, (pixels, label) in enumerate(zip(images, labels)):
        (root / f"class{label}").mkdir(exist_ok=True)
        Image.fromarray(pixels.transpose(1, 2, 0)).save(root / f"class{label}" / f"{i}.bmp")


def flat_folder(root, images, _labels):
    for i, pixels in enumerate(images):
        Image.fromarray(pixels.transpose(1, 2, 0)).save(root / f"{i}.png")


def cifar_root(root, images, labels):
    (root / "cifar-10-batches-py").mkdir(exist_ok=True)
    pickled(root / "cifar-10-batches-py" / "data_batch_1", images, labels)


def imagenet16(root, images, labels):
    pickled(root / "train_data_batch_1", images, [label + 1 for label in labels])  # numbered from 1


@pytest.mark.parametrize("layout, side, dataset, labelled", [
    (image_folder, 32, "cifar10", True), (flat_folder, 32, "cifar10", False), (cifar_root, 32, "cifar10", True),
    (imagenet16, 16, "imagenet16-120", True),
], ids=["imagefolder", "flat", "cifar", "imagenet16"])
def test_a_source_fingerprint_changes_with_one_pixel_or_one_label_and_only_then(
        tmp_path, registry, layout, side, dataset, labelled):
    preset = registry.get("dataset", dataset)
    images = np.random.default_rng(0).integers(0, 256, (4, 3, side, side), dtype=np.uint8)
    labels = [0, 1, 1, 2]

    def fingerprint(folder, images, labels):
        folder.mkdir()
        layout(folder, images, labels)
        return open_images(registry, str(folder), preset).fingerprint

    original = fingerprint(tmp_path / "a", images, labels)
    assert fingerprint(tmp_path / "b", images, labels) == original  # the same content elsewhere
    changed = images.copy()
    changed[2, 1, 5, 7] ^= 1
    assert fingerprint(tmp_path / "c", changed, labels) != original
    if labelled:
        assert fingerprint(tmp_path / "d", images, [0, 1, 2, 2]) != original


def test_synthetic_and_embedded_fingerprints_name_their_pixels(registry, monkeypatch):
    from tenaskit_builtins.data import images

    preset = registry.get("dataset", "cifar10")
    synthetic, embedded = (open_images(registry, spec, preset).fingerprint for spec in ("synthetic", "embedded"))
    assert open_images(registry, "synthetic", preset).fingerprint == synthetic
    assert open_images(registry, "embedded", preset).fingerprint == embedded
    draw = np.random.default_rng
    monkeypatch.setattr(images.np.random, "default_rng", lambda seed: draw(seed + 1))  # a numpy drawing otherwise
    assert open_images(registry, "synthetic", preset).fingerprint != synthetic
    assert open_images(registry, "embedded", preset).fingerprint != embedded


def test_an_image_file_that_cannot_be_read_for_its_fingerprint_is_one_clear_error(tmp_path, registry, monkeypatch):
    from pathlib import Path

    from tenas_kit.errors import TenasRuntimeError

    flat_folder(tmp_path, np.zeros((2, 3, 32, 32), np.uint8), None)
    images = open_images(registry, str(tmp_path), registry.get("dataset", "cifar10"))

    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(TenasRuntimeError, match=r"cannot read image '.*0\.png': Permission denied; remove or"):
        images.fingerprint
