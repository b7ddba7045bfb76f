"""Training a found cell (``tenas_kit.train``): recipes, augmentations, drop path and the auxiliary loss, each
against an independent computation; splits; resuming a stopped run to the unbroken result; export.

Networks and budgets are tiny (C=4, one cell per stage, a 64-image CIFAR root, two or three epochs), so each
test takes seconds."""

import io
import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import tenas_kit
from conftest import IN_CI
from tenas_kit.data import augment
from tenas_kit.errors import Interrupted, TenasError
from tenas_kit.h5content import content, differences
from tenas_kit.recipe import drop_path, learning_rate, resolve
from tenas_kit.training.batches import crop_flip, cutout
from tenas_kit.training.lifecycle import TrainReporter, Training
from tenas_kit.training.loop import Trainer
from tenas_kit.training.trainfile import TIMINGS, read

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|"
# DARTS V2 with a skip connection on both cells' input edges: an identity in the normal cell (never dropped) and
# a FactorizedReduce in the reduction cell (dropped like any op).
GENOTYPE = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('skip_connect', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
TINY = dict(epochs=2, channels=4, cells=1, batch_size=16)

# The numbers of each recipe's paper and code (the source each recipe names).
PAPERS = {
    "nb201": dict(epochs=200, batch_size=256, lr=0.1, lr_min=0.0, momentum=0.9, nesterov=True, weight_decay=5e-4,
                  grad_clip=0.0, channels=16, cells=5, auxiliary_weight=0.0, drop_path=0.0, cutout=0),
    "darts": dict(epochs=600, batch_size=96, lr=0.025, lr_min=0.0, momentum=0.9, nesterov=False, weight_decay=3e-4,
                  grad_clip=5.0, channels=36, cells=20, auxiliary_weight=0.4, drop_path=0.2, cutout=16),
}


def write_cifar(root, train=64, test=20, seed=0):
    """A CIFAR-10 root of random images whose colour says their class (so a tiny network learns something)."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, count in (("data_batch_1", train), ("test_batch", test)):
        labels = rng.integers(0, 10, count)
        data = np.clip(labels[:, None] * 25 + rng.integers(-40, 40, (count, 3072)), 0, 255).astype(np.uint8)
        (folder / name).write_bytes(pickle.dumps({"data": data, "labels": labels.tolist()}))
    return str(root)


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    return write_cifar(tmp_path_factory.mktemp("cifar"))


@pytest.fixture
def darts(registry):
    return registry.get("space", "darts")


@pytest.fixture(autouse=True)
def one_thread():
    # Bit-identical comparisons need one thread count throughout; one is also fastest for these tiny networks.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def trained_weights(path):
    """The network state a finished training file holds."""
    return torch.load(io.BytesIO(read(path, checkpoint=True)["checkpoint"]), weights_only=True)["network"]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]


# -- recipes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAPERS)
def test_each_recipe_holds_its_papers_numbers_and_names_its_source(registry, name):
    recipe = registry.get("recipe", name)
    assert resolve(recipe, {}) == PAPERS[name]
    assert {"nb201": "NAS-Bench-201", "darts": "DARTS"}[name] in recipe.source


def test_the_schedule_is_cosine_annealing_per_epoch_as_pytorchs_scheduler_computes_it(registry):
    for name in PAPERS:
        fields = resolve(registry.get("recipe", name), {})
        parameter = torch.nn.Parameter(torch.zeros(1))
        optimiser = torch.optim.SGD([parameter], lr=fields["lr"])
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=fields["epochs"], eta_min=0.0)
        for epoch in range(fields["epochs"]):
            assert learning_rate(fields, epoch) == pytest.approx(optimiser.param_groups[0]["lr"], rel=1e-9, abs=1e-12)
            optimiser.step()
            scheduler.step()
    darts = resolve(registry.get("recipe", "darts"), {})
    assert [drop_path(darts, e) for e in (0, 300, 599)] == [0.0, 0.1, pytest.approx(0.2 * 599 / 600)]


def test_the_optimiser_is_the_recipes_sgd(registry, nb201):
    fields = resolve(registry.get("recipe", "nb201"), {})
    network = nb201.train_network(nb201.parse(CELL), 10, 4, 1)
    trainer = Trainer(network, fields, torch.device("cpu"), "fp32", 0)
    trainer.start_epoch(100)
    group = trainer.optimizer.param_groups[0]
    assert isinstance(trainer.optimizer, torch.optim.SGD)
    assert (group["momentum"], group["nesterov"], group["weight_decay"], group["dampening"]) == (0.9, True, 5e-4, 0)
    assert group["lr"] == pytest.approx(0.05)
    assert len(group["params"]) == len(list(network.parameters()))  # weight decay on every parameter, as both papers


def test_overrides_are_checked_as_the_recipe_is(registry):
    recipe = registry.get("recipe", "darts")
    assert resolve(recipe, {"epochs": 3, "cutout": None})["epochs"] == 3
    for bad in ({"epochs": 0}, {"drop_path": 1.0}, {"lr": float("nan")}, {"batch_size": 2.5}, {"nesterov": 1}):
        with pytest.raises(TenasError, match="--"):
            resolve(recipe, bad)


# -- augmentations, drop path, auxiliary loss: each against an independent computation ------------------------


def test_crop_and_flip_give_what_the_proxies_augmentation_gives():
    images = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (9, 3, 8, 8), dtype=np.uint8))
    for padding in (0, 2, 4):
        ours = crop_flip(images, padding, np.random.default_rng(7))
        loop = augment(images, padding, np.random.default_rng(7))  # tenas_kit.data: one image at a time
        assert torch.equal(ours, loop)


def test_cutout_is_dartss_cutout():
    images = torch.randn(16, 3, 10, 10)
    rng = np.random.default_rng(3)
    ours = cutout(images, 6, np.random.default_rng(3))
    ys, xs = rng.integers(0, 10, size=16), rng.integers(0, 10, size=16)  # the centres, drawn in cutout's order
    for image, theirs, y, x in zip(images, ours, ys, xs):
        # DARTS's utils.Cutout: a mask of ones, a length-6 square around (y, x) clipped to the image set to 0.
        mask = np.ones((10, 10), np.float32)
        mask[np.clip(y - 3, 0, 10):np.clip(y + 3, 0, 10), np.clip(x - 3, 0, 10):np.clip(x + 3, 0, 10)] = 0.0
        assert torch.equal(theirs, image * torch.from_numpy(mask))


def test_drop_path_is_dartss_on_every_op_but_the_identity(darts):
    """Each cell recomputed as DARTS's evaluation cell does: op outputs of non-identity ops divided by the keep
    probability and multiplied by a per-sample Bernoulli mask (drawn node by node, input by input)."""
    torch.manual_seed(0)
    network = darts.train_network(darts.parse(GENOTYPE), 10, 4, 3).train()
    network.drop_path_prob = 0.3
    x = torch.randn(5, 3, 32, 32)
    network.drop_generator = torch.Generator().manual_seed(11)
    got = network(x)
    generator = torch.Generator().manual_seed(11)
    s0 = s1 = network.stem(x)
    genotype = darts.parse(GENOTYPE)
    for cell in network.cells:
        pairs = genotype.reduce if cell.stride == 2 else genotype.normal
        states = [cell.preprocess0(s0), cell.preprocess1(s1)]
        for node in range(4):
            total = 0
            for op_name, source in sorted(pairs[2 * node:2 * node + 2], key=lambda pair: pair[1]):
                edge = cell.edges[darts_edge(node + 2, source)]
                (op,) = edge.ops.values()
                out = op(states[source])
                if not isinstance(op, torch.nn.Identity):
                    keep = 1 - 0.3
                    mask = torch.empty(len(x), 1, 1, 1).bernoulli_(keep, generator=generator)
                    out = out / keep * mask
                total = total + out
            states.append(total)
        s0, s1 = s1, torch.cat(states[2:], dim=1)
    assert torch.allclose(got, network.classifier(network.pool(s1).flatten(1)), atol=1e-6)
    network.eval()
    assert torch.allclose(network(x), network(x))  # no drop path at test time


def darts_edge(node, source):
    from tenaskit_builtins.darts.layout import EDGES

    return EDGES.index((node, source))


def test_the_auxiliary_loss_enters_the_gradient_with_its_weight(registry, darts):
    fields = {**resolve(registry.get("recipe", "darts"), {}), "momentum": 0.0, "weight_decay": 0.0, "grad_clip": 0.0,
              "lr": 1.0, "drop_path": 0.0}
    torch.manual_seed(0)
    network = darts.train_network(darts.parse(GENOTYPE), 10, 4, 3)
    copy = darts.train_network(darts.parse(GENOTYPE), 10, 4, 3)
    copy.load_state_dict(network.state_dict())
    images, labels = torch.randn(6, 3, 32, 32), torch.tensor([0, 1, 2, 3, 4, 5])
    Trainer(network, fields, torch.device("cpu"), "fp32", 0).step(images, labels, 0, 0)
    # By hand: cross-entropy as -log softmax of the true class, main head plus 0.4 times the auxiliary head.
    copy.train()
    copy.compute_auxiliary = True
    logits = copy(images)

    def cross_entropy(z):
        return -(z - z.exp().sum(1, keepdim=True).log())[torch.arange(6), labels].mean()

    (cross_entropy(logits) + 0.4 * cross_entropy(copy.auxiliary_logits)).backward()
    for (name, after), before in zip(network.named_parameters(), copy.parameters()):
        expected = before.detach() - (before.grad if before.grad is not None else 0)
        assert torch.allclose(after.detach(), expected, atol=1e-6), name
    assert any("auxiliary" in n and p.grad is not None for n, p in copy.named_parameters())


# -- data --------------------------------------------------------------------------------------------------


def write_folder(root, classes, per_class=3, side=8):
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((side, side, 3), 40 * len(name) + i, dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def test_an_imagefolder_tree_tests_on_its_test_folder_with_the_training_class_numbers(tmp_path, registry):
    from tenas_kit.training.splits import open_splits

    write_folder(tmp_path / "train", ["ant", "bee", "cat"])
    write_folder(tmp_path / "test", ["ant", "cat"], per_class=2)
    splits = open_splits(registry, str(tmp_path), registry.get("dataset", "cifar10"))
    assert not splits.held_out and splits.classes == ["ant", "bee", "cat"]
    assert splits.train.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert splits.evaluation.labels.tolist() == [0, 0, 2, 2]  # cat is class 2 in train/, whatever test/ lacks


def test_held_out_images_are_a_share_of_every_class_the_same_for_every_seed(tmp_path, registry):
    from tenas_kit.training.splits import open_splits

    write_folder(tmp_path, ["a", "b"], per_class=10)
    preset = registry.get("dataset", "cifar10")
    first = open_splits(registry, str(tmp_path), preset, holdout=0.2)
    again = open_splits(registry, str(tmp_path), preset, holdout=0.2)
    assert first.held_out and np.array_equal(first.evaluation.indices, again.evaluation.indices)
    assert sorted(first.evaluation.labels.tolist()) == [0, 0, 1, 1]
    assert not set(first.evaluation.indices) & set(first.train.indices) and len(first.train) == 16


# -- a stopped run resumes to the unbroken result ---------------------------------------------------------------


class StopAt(TrainReporter):
    """Ctrl-C after ``step`` steps of ``epoch`` (0-based), as a stop signal is raised after the step under way."""

    def __init__(self, epoch, step):
        self.at = (epoch, step)

    def step(self, position, steps, clock):
        if (position.epoch, position.step) == self.at:
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def unbroken(cifar, tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("unbroken") / "whole.h5"
    tenas_kit.train(CELL, data=cifar, out=path, **{**TINY, "epochs": 3})
    torch.set_num_threads(threads)
    return path


@pytest.mark.parametrize("epoch, step", [(1, 2), (0, 4)], ids=["mid-epoch", "before-evaluation"])
def test_a_stopped_run_resumes_to_the_unbroken_result_bit_for_bit(cifar, unbroken, tmp_path, epoch, step):
    out = tmp_path / "cut.h5"
    with pytest.raises(Interrupted, match=f"stopped in epoch {epoch + 1} after step {step} of 4"):
        tenas_kit.train(CELL, data=cifar, out=out, reporter=StopAt(epoch, step), **{**TINY, "epochs": 3})
    assert read(Path(str(out) + ".partial"))["interrupted"]
    result = tenas_kit.train(CELL, data=cifar, out=out, **{**TINY, "epochs": 3})
    assert not result.finished_before and len(result.epochs["test_accuracy"]) == 3
    assert_same_weights(trained_weights(out), trained_weights(unbroken))
    assert differences(content(out, TIMINGS), content(unbroken, TIMINGS)) == []


def test_a_finished_training_is_returned_as_it_is(cifar, unbroken):
    result = tenas_kit.train(CELL, data=cifar, out=unbroken, **{**TINY, "epochs": 3})
    assert result.finished_before and result.accuracy == read(unbroken)["epochs"]["test_accuracy"][-1]


def test_the_darts_recipe_trains_with_every_regulariser(cifar, tmp_path):
    result = tenas_kit.train(GENOTYPE, data=cifar, out=tmp_path / "d.h5", epochs=2, channels=4, cells=3,
                             batch_size=32)
    held = read(result.path)
    assert held["config"]["fields"]["auxiliary_weight"] == 0.4 and held["config"]["fields"]["cutout"] == 16
    assert list(held["epochs"]["drop_path"]) == [0.0, 0.1] and all(map(math.isfinite, result.epochs["train_loss"]))


# -- export ------------------------------------------------------------------------------------------------

# Runs a saved network in a Python that cannot import tenas-kit: whatever the file needs must be in it.
RUNNER = """
import json, sys
import numpy as np

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tenas_kit", "tenaskit_builtins"):
            raise ImportError("tenas-kit is not installed here")

sys.meta_path.insert(0, Refuse())
images = np.load(sys.argv[2])
if sys.argv[1].endswith(".pt"):
    import torch
    extra = {"tenaskit.json": ""}
    model = torch.jit.load(sys.argv[1], _extra_files=extra)
    logits, meta = model(torch.from_numpy(images)).detach().numpy(), json.loads(extra["tenaskit.json"])
else:
    import onnx, onnxruntime
    logits = onnxruntime.InferenceSession(sys.argv[1]).run(None, {"images": images})[0]
    meta = json.loads({p.key: p.value for p in onnx.load(sys.argv[1]).metadata_props}["tenaskit"])
np.save(sys.argv[3], logits)
print(json.dumps(meta))
"""


def onnx_installed():
    try:
        import onnx, onnxruntime, onnxscript  # noqa: E401, F401
    except ImportError:
        if IN_CI:  # .ci/run installs the extra: its absence there is a broken install
            pytest.fail("the onnx extra is not installed (CI=true installs tenas-kit[onnx])")
        pytest.skip("the onnx extra (tenas-kit[onnx]) is not installed")


@pytest.mark.parametrize("suffix", [".pt", ".onnx"])
def test_the_exported_network_gives_the_trained_networks_outputs_without_tenas_kit(cifar, unbroken, tmp_path,
                                                                                    registry, suffix):
    if suffix == ".onnx":
        onnx_installed()
    model = tmp_path / f"model{suffix}"
    result = tenas_kit.train(CELL, data=cifar, out=unbroken, export=[model], **{**TINY, "epochs": 3})
    assert result.exported == [model] and result.finished_before  # exported from the finished file
    images = np.random.default_rng(0).random((5, 3, 32, 32), dtype=np.float32)
    np.save(tmp_path / "images.npy", images)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", RUNNER, str(model), str(tmp_path / "images.npy"),
                           str(tmp_path / "logits.npy")], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    meta = json.loads(done.stdout)
    assert meta["architecture"] == CELL and meta["recipe"] == "nb201" and meta["fields"]["epochs"] == 3
    nb201 = registry.get("space", "nb201")
    network = nb201.train_network(nb201.parse(CELL), 10, 4, 1)
    network.load_state_dict(trained_weights(unbroken))
    preset = registry.get("dataset", "cifar10")
    mean, std = torch.tensor(preset.mean).view(1, 3, 1, 1), torch.tensor(preset.std).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = network.eval()((torch.from_numpy(images) - mean) / std).numpy()
    assert np.allclose(np.load(tmp_path / "logits.npy"), expected, atol=1e-5)


def test_training_builds_its_network_from_the_seed_alone(cifar):
    first = Training(arch=CELL, data=cifar, seed=5, **TINY).build().state_dict()
    torch.manual_seed(123)  # PyTorch's global generator is neither read nor changed
    state = torch.random.get_rng_state()
    again = Training(arch=CELL, data=cifar, seed=5, **TINY).build().state_dict()
    assert_same_weights(first, again)
    assert torch.equal(state, torch.random.get_rng_state())


# -- the train oracle ----------------------------------------------------------------------------------------


def test_the_train_oracle_answers_the_held_out_accuracy_tenaskit_train_gives(cifar, tmp_path, monkeypatch):
    from tenas_kit.runfile import read as read_run

    monkeypatch.chdir(tmp_path)  # each queried cell's training file goes where tenaskit train keeps it: runs/
    config = tenas_kit.SearchConfig(data=cifar, repeats=1, seed=3, proxies=[("params", 1.0)], executor="serial")
    result = tenas_kit.search(config, out=tmp_path / "q.h5", queries=2, oracle="train", store=tmp_path / "s.h5",
                              oracle_options={"oracle_epochs": 1, "oracle_subset": 32})
    run = read_run(result.path)
    assert run["queries"]["oracle"] == "train:accuracy"
    assert run["queries"]["oracle_options"] == {"oracle_epochs": 1, "oracle_subset": 32}
    for answer in run["answers"]:
        trained = tenas_kit.train(answer["arch"], data=cifar, seed=3, holdout=0.1, epochs=1, subset=32)
        assert trained.finished_before and trained.held_out and trained.accuracy == answer["answer"]
    # The run file's found cell, with its data and dataset: the oracle's training of that cell, found.
    found = tenas_kit.train(run=result.path, seed=3, holdout=0.1, epochs=1, subset=32)
    assert found.architecture == result.architecture and found.finished_before
    assert found.accuracy == {a["arch"]: a["answer"] for a in run["answers"]}[result.architecture]
