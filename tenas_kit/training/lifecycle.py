"""A training run from start to end, shared by ``tenaskit train`` and ``tenas_kit.train``.

Everything is looked up and checked before any work starts: the cell (from a
run file, or its text and space), the recipe (the space's, unless named) with
the fields overridden, the data's splits and labels, the device, the outputs,
and the network itself, built and run once at the data's resolution. Then the
results file: a finished one with the same settings is returned as it is, one
with other settings is refused; ``NAME.partial`` resumes from its checkpoint,
bit for bit on a CPU (every draw is seeded by epoch and step, and the
checkpoint holds the weights, the optimiser and the position in the epoch).
A stop signal ends the step under way, saves, and exits within seconds.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from tenas_kit import arguments, plugins as pluginmod, stopping
from tenas_kit.errors import TenasError, TenasRuntimeError
from tenas_kit.lifecycle import interrupted, require_something
from tenas_kit.recipe import resolve

EXPORTS = (".pt", ".onnx")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # auto: mixed precision on a GPU (tenas_kit.training.loop)


class TrainReporter:
    """Progress callbacks; the command line renders them, the API ignores them by default."""

    def loading(self, description, images): ...

    def started(self, epochs, steps, position): ...

    def step(self, position, steps, clock): ...

    def epoch_finished(self, epoch, record): ...


@dataclass
class TrainResult:
    path: Path
    architecture: str
    accuracy: float  # the last epoch's test (or held-out) accuracy, in %
    held_out: bool  # measured on images held out of the training split, not on a test split
    epochs: dict = field(default_factory=dict)  # column -> one value per epoch
    finished_before: bool = False  # the file was already there: nothing was trained
    exported: list = field(default_factory=list)


class Training:
    """A planned training: ``Training(arch=..., space=..., data=...).run(reporter)``; see ``tenas_kit.train``."""

    def __init__(self, arch=None, space=None, run=None, data=None, dataset=None, recipe=None, seed=0, device="auto",
                 precision="auto", out=None, subset=None, holdout=None, export=(), plugins=(), resume=False,
                 **fields):
        from tenas_kit.plan import resolve_device
        from tenas_kit.training import loop

        _check_arguments(arch, space, run, data, dataset, recipe, seed, device, precision, out, subset, holdout,
                         plugins, resume)
        registry = pluginmod.registry(plugins)
        self.plugins, self.seed = tuple(plugins), seed
        self.space, self.arch, origin = _cell(registry, arch, space, run)
        self.text = self.space.format(self.arch)
        self.dataset = registry.get("dataset", dataset or origin.get("dataset") or "cifar10")
        self.recipe = _recipe(registry, recipe, self.space, self.dataset)
        self.fields = _fields(self.recipe, fields)
        self.device = resolve_device(device)
        self.precision = loop.precision_for(precision, self.device)
        self.exports = _exports(export)
        self._open_data(registry, data if data is not None else origin.get("data"), holdout, subset)
        self.network = self._checked_network()
        self.config = self._config(subset)
        self._check_output(out, resume)

    def _open_data(self, registry, data, holdout, subset):
        from tenas_kit.training import splits

        if data is None:
            raise TenasError("give --data: the labelled images to train on (a CIFAR root, an ImageFolder tree, "
                             "ImageNet16 pickles).")
        self.data = str(data)
        self.splits = splits.open_splits(registry, self.data, self.dataset, holdout, subset)
        if len(self.splits.train) < 2:
            raise TenasError(f"--data '{self.data}': {len(self.splits.train)} training image; give at least 2.")
        self.share = (holdout or splits.HOLDOUT) if self.splits.held_out else None

    def _check_output(self, out, resume):
        """The training file: a finished one of these settings is the result; one of others, or an interrupted
        one of others, is refused before anything is written."""
        from tenas_kit.runfile import partial_path
        from tenas_kit.training.trainfile import changed, check_partial, read

        self.path = Path(out) if out is not None else default_path(self.config)
        self.partial = partial_path(self.path)
        require_something(resume, self.partial, self.path)
        self.finished = read(self.path) if self.path.is_file() else None
        if self.finished is not None and self.finished["config"] != self.config:
            differ = ", ".join(changed(self.finished["config"], self.config))
            raise TenasError(f"'{self.path}' holds a finished training with other settings ({differ} differ); "
                             f"choose another --out.")
        self.resumable = self.finished is None and self.partial.is_file()
        if self.resumable:
            check_partial(self.partial, self.config)

    def _config(self, subset):
        """What the result depends on: compared when a file is reused or resumed, hashed into its default name."""
        return {"space": self.space.name, "architecture": self.text, "recipe": self.recipe.name,
                "fields": self.fields, "dataset": self.dataset.name, "images": self.splits.fingerprint,
                "evaluation": f"held out {self.share:g}" if self.share else "test split", "subset": subset,
                "seed": self.seed, "device": self.device.type, "precision": self.precision}

    def settings(self):
        """What describes the run besides its config, recorded with it."""
        recipe = {"name": self.recipe.name, "description": self.recipe.description, "source": self.recipe.source}
        return {"recipe": recipe, "data": self.data, "train_images": len(self.splits.train),
                "evaluation_images": len(self.splits.evaluation), "classes": self.splits.classes,
                "device": str(self.device), "num_classes": self.dataset.num_classes,
                "resolution": self.dataset.resolution, "mean": list(self.dataset.mean), "std": list(self.dataset.std)}

    def build(self):
        """The network before training: its weights drawn from the seed alone."""
        from tenas_kit.nn.init import own_draws
        from tenas_kit.seeds import derive

        with own_draws(derive(self.seed, "weights")):
            return self.space.train_network(self.arch, self.dataset.num_classes, self.fields["channels"],
                                            self.fields["cells"])

    def _checked_network(self):
        """The network, built and run once in train mode on two images of the data's resolution (on a copy, so
        its statistics stay untouched): a recipe it cannot follow, or a size it cannot take, fails now."""
        import torch

        network = self.build()
        if self.fields["drop_path"] and not hasattr(network, "drop_path_prob"):
            raise TenasError(f"recipe '{self.recipe.name}' uses drop path, which space {self.space.name}'s network "
                             f"lacks; give --drop-path 0.")
        probe = copy.deepcopy(network).train()
        probe.compute_auxiliary = bool(self.fields["auxiliary_weight"])
        side = self.dataset.resolution
        try:
            probe(torch.zeros(2, 3, side, side))
        except RuntimeError as exc:
            raise TenasError(f"space {self.space.name}'s network for this cell cannot run on {side}x{side} images "
                             f"with {self.fields['cells'] or 'its'} cells ({' '.join(str(exc).split())[:200]}); "
                             f"give other --cells, or --auxiliary-weight 0.") from None
        if self.fields["auxiliary_weight"] and getattr(probe, "auxiliary_logits", None) is None:
            raise TenasError(f"recipe '{self.recipe.name}' weighs an auxiliary head, which space "
                             f"{self.space.name}'s network lacks; give --auxiliary-weight 0.")
        return network

    def run(self, reporter=None):
        from tenas_kit.training.trainfile import TrainFile

        reporter = reporter or TrainReporter()
        if self.finished is not None:
            exported = self._export(_trained(self.build(), self.path)) if self.exports else []
            return self._result(self.finished["epochs"], True, exported)
        reporter.loading(self.splits.description, len(self.splits.train) + len(self.splits.evaluation))
        trainer, batches, evaluation = self._prepare()
        run = TrainFile.open(self.path, self.config, self.settings(), self.splits.description, self.text)
        position = _resume(trainer, run, self.device)
        reporter.started(self.fields["epochs"], batches.steps(), position)
        try:
            _train(trainer, batches, evaluation, position, reporter, run)
        except BaseException as exc:
            stop = stopping.interruption(exc)
            if stop is None:
                raise
            run.save(checkpoint(trainer, position))
            done = run.epochs_done
            raise interrupted(stop, f"stopped in epoch {position.epoch + 1} after step {position.step} of "
                                     f"{batches.steps()}; saved in '{run.path}.partial' ({done} finished "
                                     f"epoch{'s' * (done != 1)}): rerun the same command to resume.") from None
        run.finish(weights(trainer.network))
        return self._result(run.history, False, self._export(trainer.network))

    def _prepare(self):
        from tenas_kit.training.batches import Batches
        from tenas_kit.training.loop import Trainer

        trainer = Trainer(self.network, self.fields, self.device, self.precision, self.seed)
        size = self.fields["batch_size"]
        batches = Batches(self.splits.train.pixels(), self.splits.train.labels, self.dataset, size, self.seed,
                          self.device, self.fields["cutout"])
        evaluation = Batches(self.splits.evaluation.pixels(), self.splits.evaluation.labels, self.dataset, size,
                             self.seed, self.device)
        return trainer, batches, evaluation

    def _export(self, network):
        from tenas_kit.training.export import export

        meta = {"space": self.space.name, "architecture": self.text, "recipe": self.recipe.name,
                "fields": self.fields, "dataset": self.dataset.name, "num_classes": self.dataset.num_classes,
                "resolution": self.dataset.resolution, "classes": self.splits.classes}
        return [export(network, path, self.dataset, meta) for path in self.exports]

    def _result(self, epochs, before, exported):
        epochs = {column: list(map(float, values)) for column, values in epochs.items()}
        return TrainResult(self.path, self.text, epochs["test_accuracy"][-1], self.share is not None, epochs, before,
                           exported)


def _train(trainer, batches, evaluation, position, reporter, run):
    from tenas_kit.training import loop

    def commit(record):
        run.commit(record, checkpoint(trainer, position))
        reporter.epoch_finished(position.epoch - 1, record)

    loop.train(trainer, batches, evaluation, position, reporter, commit)


def checkpoint(trainer, position):
    """The bytes that resume training: the network, the optimiser (and gradient scaler), the position."""
    import torch

    buffer = io.BytesIO()
    torch.save({**trainer.state(), "position": position.state()}, buffer)
    return buffer.getvalue()


def weights(network):
    import torch

    buffer = io.BytesIO()
    torch.save({"network": {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}}, buffer)
    return buffer.getvalue()


def load_state(blob, device, path):
    """A checkpoint's content, loaded as data only (``weights_only``): a file never runs code."""
    import torch

    try:
        return torch.load(io.BytesIO(blob), map_location=device, weights_only=True)
    except Exception as exc:  # any failure to unpickle means the bytes are not a checkpoint this code wrote
        raise TenasRuntimeError(f"the checkpoint in '{path}' cannot be loaded ({type(exc).__name__}); delete the "
                                f"file to start over.") from None


def _resume(trainer, run, device):
    from tenas_kit.training.loop import Position

    if run.checkpoint is None:
        return Position()
    state = load_state(run.checkpoint, device, run.path)
    trainer.load(state)
    return Position(**state["position"])


def _trained(network, path):
    """``network`` with the weights the finished file at ``path`` holds."""
    from tenas_kit.training.trainfile import read

    held = read(path, checkpoint=True)
    network.load_state_dict(load_state(held["checkpoint"], "cpu", path)["network"])
    return network.eval()


def default_path(config):
    digest = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:8]
    return (Path("runs") / f"train-{config['space']}-{config['recipe']}-{config['dataset']}-seed{config['seed']}-"
                           f"{digest}.h5")


def _cell(registry, arch, space, run):
    """``(space, architecture, what the run file says of its data)`` from a run file or a cell's text."""
    from tenas_kit import runfile

    if (arch is None) == (run is None):
        raise TenasError("give the cell to train: a run file (tenaskit train RUN.h5), or --arch TEXT (--genotype "
                         "for DARTS), not both.")
    if run is not None:
        held = runfile.read(run)
        if "architecture" not in held:
            raise TenasError(f"'{run}' holds no finished architecture; finish the run first.")
        if space is not None and space != held["config"]["space"]:
            raise TenasError(f"--space {space}: '{run}' is a search of space {held['config']['space']}; leave "
                             f"--space out.")
        found = registry.get("space", held["config"]["space"])
        return found, found.parse(held["architecture"]), held["config"]
    text = _cell_text(arch)
    if space is not None:
        found = registry.get("space", space)
        return found, found.parse(text), {}
    return (*_space_reading(registry, text), {})


def _cell_text(arch):
    """A cell's text, or the text of the file it names (lines starting with # left out)."""
    from tenas_kit.textfiles import read_text

    try:
        named = Path(arch).is_file()
    except (OSError, ValueError):  # a text too long, or holding a NUL, for a file name
        named = False
    if named:
        lines = read_text(arch, "cell file").splitlines()
        arch = " ".join(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    return arch.strip()


def _space_reading(registry, text):
    """The one installed space that reads ``text`` as a cell."""
    readers, why = [], []
    for space in registry.all("space"):
        try:
            readers.append((space, space.parse(text)))
        except Exception as exc:  # noqa: BLE001 - a space's parser may fail any way on another space's text
            why.append(f"{space.name}: {exc}")
    if len(readers) == 1:
        return readers[0]
    shown = text if len(text) <= 60 else text[:57] + "..."
    if readers:
        names = ", ".join(s.name for s, _ in readers)
        raise TenasError(f"spaces {names} all read the cell '{shown}'; say which with --space.")
    raise TenasError(f"no space reads the cell '{shown}' ({'; '.join(why)}); give --space NAME for its own reason.")


def _recipe(registry, name, space, dataset):
    if name is None:
        name = space.defaults(dataset.name).get("recipe")
        if name is None:
            raise TenasError(f"space {space.name} names no recipe; give --recipe (tenaskit plugins lists them).")
    if not hasattr(space, "train_network"):
        raise TenasError(f"space {space.name} builds no network to train (its plugin has no train_network).")
    return registry.get("recipe", name)


def _fields(recipe, overrides):
    fields = resolve(recipe, overrides)
    if fields["nesterov"] and not fields["momentum"]:
        raise TenasError("Nesterov momentum needs a momentum above 0; give --momentum or --no-nesterov.")
    return fields


def _exports(export):
    paths = [export] if isinstance(export, (str, Path)) else list(export or ())
    for path in paths:
        arguments.path("export", path, optional=False)
        suffix = Path(path).suffix.lower()
        if suffix not in EXPORTS:
            raise TenasError(f"--export '{path}': end it in .pt (TorchScript) or .onnx (ONNX).")
        if suffix == ".onnx":
            from tenas_kit.training.export import require_onnx

            require_onnx()
        arguments.check_out("export", path, writable=True)
    return [Path(p) for p in paths]


def _check_arguments(arch, space, run, data, dataset, recipe, seed, device, precision, out, subset, holdout, plugins,
                     resume):
    arguments.check_plugins(plugins)
    for name, value, example in (("arch", arch, "|nor_conv_3x3~0|+|...|"), ("space", space, "nb201"),
                                 ("dataset", dataset, "cifar10"), ("recipe", recipe, "nb201")):
        arguments.text(name, value, example, optional=True)
    arguments.path("run", run)
    arguments.path("data", data)
    arguments.whole("seed", seed, 0)
    arguments.choice("device", device, arguments.DEVICES)
    arguments.choice("precision", precision, PRECISIONS)
    arguments.check_out("out", out, writable=False)  # the training file's own writes say when they fail
    if subset is not None:
        arguments.whole("subset", subset, 2)
    if holdout is not None and not (isinstance(holdout, float) and 0 < holdout < 1):
        raise arguments.refuse("holdout", holdout, "a share of the training images above 0 and below 1, e.g. 0.1")
    arguments.flag("resume", resume)


def train(arch=None, reporter=None, **settings):
    """Train a cell (see ``tenas_kit.train``); returns a TrainResult."""
    return Training(arch=arch, **settings).run(reporter)
