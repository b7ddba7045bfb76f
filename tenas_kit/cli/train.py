"""``tenaskit train``: train a found cell with a recipe, and ``show`` of what a training file holds."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tenas_kit.arguments import DEVICES
from tenas_kit.cli.common import console, plugin_option
from tenas_kit.cli.progress import duration
from tenas_kit.recipe import FIELDS, field_problem
from tenas_kit.training.lifecycle import PRECISIONS, TrainReporter


class FieldType(click.ParamType):
    """A recipe field's value, bounded as ``tenas_kit.recipe.FIELDS`` bounds it."""

    def __init__(self, name):
        self.name = name
        self.integer = FIELDS[name][1].startswith("a whole")

    def convert(self, value, param, ctx):
        try:
            number = int(value) if self.integer else float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not {FIELDS[self.name][1]}", param, ctx)
        problem = field_problem(self.name, number)
        if problem:
            self.fail(problem, param, ctx)
        return number


def recipe_options(command):
    """An option per recipe field (``--epochs``, ``--batch-size``, ...): each overrides the recipe's value."""
    for name, (_, wanted, text) in reversed(FIELDS.items()):
        flag, text = "--" + name.replace("_", "-"), f"{text.rstrip('.')} (default: the recipe's)."
        if wanted == "True or False":
            option = click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=text)
        else:
            metavar = "N" if FieldType(name).integer else "X"
            option = click.option(flag, name, type=FieldType(name), default=None, metavar=metavar, help=text)
        command = option(command)
    return command


@click.command()
@click.argument("run_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--arch", "--genotype", "arch", default=None, metavar="TEXT|FILE",
              help="The cell to train, or a file holding it, when no RUN_FILE is given (a DARTS Genotype(...) too).")
@click.option("--space", default=None,
              help="The cell's space (default: the run file's, or the one space that reads it).")
@click.option("--data", default=None,
              help="Labelled images: a CIFAR root, an ImageFolder tree (train/ and test/, or class folders), "
                   "ImageNet16 pickles (default: the run file's).")
@click.option("--dataset", default=None,
              help="Normalisation and class count preset (default: the run file's, or cifar10).")
@click.option("--recipe", default=None, help="Training recipe (default: the space's; tenaskit plugins lists recipes).")
@recipe_options
@click.option("--subset", type=click.IntRange(min=2), default=None,
              help="Train on this many of the training images (the same ones for every seed and cell).")
@click.option("--holdout", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Test on this share of the training images, held out, even where the data has a test split "
                   "(default where it has none: 0.1).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="auto: mixed precision (bf16, else fp16) on a GPU, fp32 on a CPU.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Training file (default: runs/train-<space>-<recipe>-<dataset>-seed<seed>-<hash>.h5).")
@click.option("--export", multiple=True, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.pt|FILE.onnx",
              help="Write the trained network: .pt TorchScript (torch.jit.load), .onnx ONNX (tenas-kit[onnx]); "
                   "repeatable.")
@click.option("--resume", is_flag=True, help="Continue this command's interrupted training; an error if there is none "
              "(without it, an interrupted training resumes too).")
@plugin_option
def train(run_file, arch, space, data, dataset, recipe, subset, holdout, seed, device, precision, out, export, resume,
          plugins, **fields):
    """Train a cell: RUN_FILE's found architecture, or --arch. Rerunning the command resumes it."""
    from tenas_kit.training.lifecycle import Training

    training = Training(arch=arch, space=space, run=run_file, data=data, dataset=dataset, recipe=recipe, seed=seed,
                        device=device, precision=precision, out=out, subset=subset, holdout=holdout, export=export,
                        plugins=plugins, resume=resume, **fields)
    _describe(training)
    with TrainProgress(console) as reporter:
        result = training.run(reporter)
    where, epochs = "held-out images" if result.held_out else "the test split", len(result.epochs["test_accuracy"])
    console.print(f"test accuracy: {result.accuracy:.2f}% on {where} after {epochs} epoch{'s' * (epochs != 1)}",
                  highlight=False)
    for path in result.exported:
        console.print(f"exported: {path}", soft_wrap=True, markup=False, highlight=False)
    console.print(f"saved: {result.path}", soft_wrap=True, markup=False, highlight=False)


def _describe(training):
    recipe = training.recipe
    console.print(f"cell: [bold]{escape(training.text)}[/] ({escape(training.space.name)})", soft_wrap=True,
                  highlight=False)
    console.print(f"recipe: {escape(recipe.name)} ({escape(recipe.source)})", soft_wrap=True, highlight=False)
    changed = {k: v for k, v in training.fields.items() if v != getattr(recipe, k, v)}
    if changed:
        console.print("changed: " + ", ".join(f"{k}={v}" for k, v in changed.items()), markup=False, highlight=False)
    tested = "held out of them" if training.share else "of the test split"
    console.print(f"data: {escape(training.splits.description)}: {len(training.splits.train)} images to train on, "
                  f"{len(training.splits.evaluation)} {tested}; on {training.device} ({training.precision})",
                  soft_wrap=True, highlight=False)
    if training.finished is not None:
        console.print(f"already trained: {training.path}", soft_wrap=True, markup=False)
    elif training.resumable:
        console.print(f"resuming {training.partial}", soft_wrap=True, markup=False)


class TrainProgress(TrainReporter):
    """A bar over every step of the run with the loss, accuracy and images per second of the epoch so far (on a
    terminal), and a line per finished epoch (everywhere)."""

    EVERY = 0.5  # seconds between bar updates: reading the loss makes a GPU wait for the step

    def __init__(self, console):
        self.console = console
        self.progress = Progress(TextColumn("[bold]{task.fields[title]}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[detail]}"), TextColumn("ETA"), TimeRemainingColumn(),
                                 console=console, transient=True, disable=not console.is_terminal)
        self.task, self.shown, self.seconds = None, 0.0, []

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def loading(self, description, images):
        self.console.print(f"decoding {images} images", markup=False, highlight=False)

    def started(self, epochs, steps, position):
        self.epochs, self.steps = epochs, steps
        done = position.epoch * steps + position.step
        self.task = self.progress.add_task("", total=epochs * steps, completed=done, title=self._title(position),
                                           detail="")

    def _title(self, position):
        return f"epoch {min(position.epoch + 1, self.epochs)}/{self.epochs}"

    def step(self, position, steps, clock):
        now = time.monotonic()
        if self.progress.disable or self.task is None or now - self.shown < self.EVERY:
            return
        self.shown = now
        detail = (f"loss {float(position.loss) / position.seen:.3f}  accuracy "
                  f"{100 * int(position.correct) / position.seen:.1f}%  {clock.rate():.0f} images/s")
        self.progress.update(self.task, completed=position.epoch * steps + position.step, detail=detail,
                             title=self._title(position))

    def epoch_finished(self, epoch, record):
        self.seconds.append(record["seconds"])
        left = (self.epochs - epoch - 1) * sum(self.seconds) / len(self.seconds)
        parts = [f"loss {record['train_loss']:.4f}", f"accuracy {record['train_accuracy']:.2f}%",
                 f"test accuracy {record['test_accuracy']:.2f}%"]
        if math.isfinite(record["images_per_second"]):  # not for an epoch resumed after its last step
            parts.append(f"{record['images_per_second']:.0f} images/s")
        parts.append(f"{record['seconds']:.1f} s" + (f", about {duration(left)} left" if left >= 1 else ""))
        self.console.print(f"epoch {epoch + 1}/{self.epochs}: {', '.join(parts)}", soft_wrap=True, markup=False,
                           highlight=False)
        if self.task is not None:
            self.progress.update(self.task, completed=(epoch + 1) * self.steps)


def show_training(path):
    """``tenaskit show`` of a training file: its settings and every epoch."""
    from tenas_kit.training.trainfile import read

    held = read(path)
    console.print(f"[bold]{escape(str(path))}[/]  complete={bool(held['complete'])}  data: {escape(held['data'])}",
                  soft_wrap=True)
    console.print(f"architecture: {held['architecture']}", soft_wrap=True, markup=False)
    console.print(f"config: {json.dumps(held['config'])}", soft_wrap=True, markup=False, highlight=False)
    console.print(f"settings: {json.dumps(held['settings'])}", soft_wrap=True, markup=False, highlight=False)
    epochs = held["epochs"]
    table = Table(title="epochs")
    for heading in ("epoch", "lr", "train loss", "train acc %", "test loss", "test acc %", "seconds", "images/s"):
        table.add_column(heading, justify="right")
    for i in range(int(held["epochs_done"])):
        table.add_row(str(i + 1), f"{epochs['lr'][i]:.4g}", f"{epochs['train_loss'][i]:.4f}",
                      f"{epochs['train_accuracy'][i]:.2f}", f"{epochs['test_loss'][i]:.4f}",
                      f"{epochs['test_accuracy'][i]:.2f}", f"{epochs['seconds'][i]:.1f}",
                      f"{epochs['images_per_second'][i]:.0f}")
    console.print(table)
    if held["epochs_done"]:
        console.print(f"test accuracy: {epochs['test_accuracy'][-1]:.2f}%", highlight=False)
