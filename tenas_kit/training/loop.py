"""The network, its optimiser and its precision: a training step, the epochs, an evaluation.

On a GPU the forward pass runs under autocast (bfloat16 where the GPU has it,
float16 with a gradient scaler otherwise) with the network in channels-last
layout; on a CPU everything is float32. Losses and counts are summed on the
device and read once an epoch, so a GPU is never made to wait for the host.

Where training stands (``Position``: the epoch, the steps of it done and their
sums) changes only together with the weights, inside a block a stop signal
cannot cut (``stopping.deferred``): whenever a stop arrives, the network, the
optimiser and the position saved with them agree.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tenas_kit import stopping
from tenas_kit.errors import TenasError, TenasRuntimeError
from tenas_kit.recipe import drop_path, learning_rate
from tenas_kit.seeds import derive

AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
EVALUATION_BATCH = 500  # fixed, so that a test accuracy does not depend on the recipe's batch size


def precision_for(name, device):
    """The precision ``--precision name`` trains with on ``device``: auto is mixed precision on a GPU."""
    if name == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if name != "fp32" and device.type != "cuda":
        raise TenasError(f"--precision {name} is mixed precision, for a GPU; on {device.type} give --precision fp32 "
                         f"or auto.")
    return name


@dataclass
class Position:
    """The epoch training is in, the steps of it done, and their summed loss, correct answers and images."""

    epoch: int = 0
    step: int = 0
    loss: object = 0.0  # a float64 tensor on the device while an epoch runs
    correct: object = 0
    seen: int = 0

    def state(self):
        return {"epoch": self.epoch, "step": self.step, "loss": float(self.loss), "correct": int(self.correct),
                "seen": self.seen}

    def next_epoch(self):
        self.epoch, self.step, self.loss, self.correct, self.seen = self.epoch + 1, 0, 0.0, 0, 0


class Trainer:
    """A network trained with a recipe's fields on ``device``; every draw seeded from ``seed``."""

    def __init__(self, network, fields, device, precision, seed):
        self.fields, self.device, self.seed = fields, device, seed
        network = network.to(device)
        if device.type == "cuda":
            network = network.to(memory_format=torch.channels_last)
            torch.backends.cudnn.benchmark = True
        self.network = network
        self.optimizer = torch.optim.SGD(network.parameters(), lr=fields["lr"], momentum=fields["momentum"],
                                         weight_decay=fields["weight_decay"], nesterov=fields["nesterov"])
        self.dtype = AUTOCAST[precision]
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        self.drops = None
        if hasattr(network, "drop_path_prob"):
            self.drops = network.drop_generator = torch.Generator(device)
        if fields["auxiliary_weight"]:
            network.compute_auxiliary = True

    def start_epoch(self, epoch):
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.fields, epoch)
        if self.drops is not None:
            self.network.drop_path_prob = drop_path(self.fields, epoch)
        self.network.train()

    def step(self, images, labels, epoch, step):
        """One optimiser step; returns the batch's summed loss (float64) and correct answers, on the device."""
        if self.drops is not None:
            self.drops.manual_seed(derive(self.seed, "drop-path", epoch, step))
        with self._autocast():
            logits = self.network(images)
            loss = F.cross_entropy(logits, labels)
            objective = loss
            if self.fields["auxiliary_weight"]:
                auxiliary = F.cross_entropy(self.network.auxiliary_logits, labels)
                objective = loss + self.fields["auxiliary_weight"] * auxiliary
        self.optimizer.zero_grad(set_to_none=True)
        self._backward(objective)
        return loss.detach().double() * len(labels), (logits.argmax(1) == labels).sum()

    def _backward(self, objective):
        clip = self.fields["grad_clip"]
        if self.scaler is None:
            objective.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(self.network.parameters(), clip)
            self.optimizer.step()
            return
        self.scaler.scale(objective).backward()
        if clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def evaluate(self, batches):
        """``(mean loss, accuracy in %)`` on every image of ``batches``, unaugmented."""
        self.network.eval()
        loss = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        with torch.no_grad(), self._autocast():
            for images, labels in batches.sequential(EVALUATION_BATCH):
                logits = self.network(images).float()
                loss += F.cross_entropy(logits, labels, reduction="sum").double()
                correct += (logits.argmax(1) == labels).sum()
        self.network.train()
        return float(loss) / len(batches), 100.0 * int(correct) / len(batches)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None)

    def state(self):
        state = {"network": self.network.state_dict(), "optimizer": self.optimizer.state_dict()}
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        return state

    def load(self, state):
        self.network.load_state_dict(state["network"])
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])


class Clock:
    """An epoch's timings in this process: training steps, their data, and the images they saw."""

    def __init__(self):
        self.train = self.data = 0.0
        self.images = 0

    def rate(self):
        return self.images / self.train if self.train else math.nan


def train(trainer, batches, evaluation, position, reporter, commit):
    """Train from ``position`` to the recipe's last epoch; ``commit(record)`` after each, the position already
    at the next epoch. ``reporter.step(position, steps, clock)`` after every step."""
    steps = batches.steps()
    while position.epoch < trainer.fields["epochs"]:
        epoch, clock, started = position.epoch, Clock(), time.perf_counter()
        trainer.start_epoch(epoch)
        while position.step < steps:
            with stopping.deferred():
                _step(trainer, batches, position, clock)
            reporter.step(position, steps, clock)
        test_loss, test_accuracy = trainer.evaluate(evaluation)
        record = _record(trainer, position, clock, test_loss, test_accuracy, time.perf_counter() - started)
        with stopping.deferred():
            position.next_epoch()
            commit(record)


def _step(trainer, batches, position, clock):
    begun = time.perf_counter()
    images, labels = batches.batch(position.epoch, position.step)
    ready = time.perf_counter()
    loss, correct = trainer.step(images, labels, position.epoch, position.step)
    position.step += 1
    position.loss = loss + position.loss
    position.correct = correct + position.correct
    position.seen += len(labels)
    clock.data += ready - begun
    clock.train += time.perf_counter() - begun
    clock.images += len(labels)


def _record(trainer, position, clock, test_loss, test_accuracy, seconds):
    """One epoch's line of the results file (timings are this process's part of the epoch)."""
    loss = float(position.loss) / position.seen
    if not math.isfinite(loss):
        raise TenasRuntimeError(f"training diverged in epoch {position.epoch + 1} (training loss {loss}); the "
                                f"earlier epochs are kept: give a lower --lr to train again under another --out.")
    return {"train_loss": loss, "train_accuracy": 100.0 * int(position.correct) / position.seen,
            "test_loss": test_loss, "test_accuracy": test_accuracy,
            "lr": trainer.optimizer.param_groups[0]["lr"], "drop_path": getattr(trainer.network, "drop_path_prob", 0.0),
            "seconds": seconds, "images_per_second": clock.rate(),
            "data_share": clock.data / clock.train if clock.train else math.nan}
