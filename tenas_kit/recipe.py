"""Training recipes: how ``tenaskit train`` trains a cell, a plugin kind (``register_recipes``).

A recipe is a set of numbers with their source: the optimiser (SGD), the
learning-rate schedule (cosine annealing per epoch from ``lr`` to ``lr_min``),
the budget, the network's size and the regularisers. The trainer
(``tenas_kit.training``) implements every field for any space; a user may
override any of them (``--epochs 3``, ``train(epochs=3)``), and the values
trained with are recorded in the results file.
"""

from __future__ import annotations

import math
import numbers
from typing import Protocol

from tenas_kit import contract
from tenas_kit.errors import TenasError


class Recipe(Protocol):
    """A recipe (``register_recipes``), checked when its plugin loads (``tenas_kit.contract``)."""

    name: str
    description: str
    source: str  # where its numbers come from: the paper and the code that trained with them
    epochs: int
    batch_size: int
    lr: float  # the first epoch's learning rate
    momentum: float
    weight_decay: float
    lr_min: float = 0.0  # the learning rate the cosine schedule ends at
    nesterov: bool = False
    grad_clip: float = 0.0  # largest norm of the gradient (clipped above it); 0: not clipped
    channels: int = 0  # the network's width as the space counts it (its train_network); 0: the space's own
    cells: int = 0  # the network's depth as the space counts it; 0: the space's own
    auxiliary_weight: float = 0.0  # weight of an auxiliary head's loss, where the network has one
    drop_path: float = 0.0  # drop-path probability of the last epoch, grown linearly from 0 at the first
    cutout: int = 0  # side of the square zeroed at a random place of every training image; 0: none


def _whole(low):
    return (lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= low,
            f"a whole number of {low} or more")


def _real(low, high=math.inf, open_low=False):
    def accepts(v):
        if not isinstance(v, numbers.Real) or isinstance(v, bool) or not math.isfinite(v):
            return False
        return (v > low if open_low else v >= low) and v < high

    span = f"above {low:g}" if open_low else f"of {low:g} or more"
    return accepts, f"a number {span}" + (f" and below {high:g}" if high != math.inf else "")


# field -> (accepts(value), what it must be, help): the one statement of each field's bounds, used by the
# load check, by the API's overrides and by the command's options.
FIELDS = {
    "epochs": (*_whole(1), "Epochs to train."),
    "batch_size": (*_whole(1), "Images per step."),
    "lr": (*_real(0, open_low=True), "Learning rate of the first epoch (cosine-annealed per epoch to --lr-min)."),
    "lr_min": (*_real(0), "Learning rate the cosine schedule ends at."),
    "momentum": (*_real(0, 1), "SGD momentum."),
    "nesterov": (lambda v: isinstance(v, bool), "True or False", "Nesterov momentum."),
    "weight_decay": (*_real(0), "SGD weight decay (L2), on every parameter."),
    "grad_clip": (*_real(0), "Clip the gradient's norm to this; 0: no clipping."),
    "channels": (*_whole(0), "Network width as the space counts it; 0: the space's own."),
    "cells": (*_whole(0), "Network depth as the space counts it; 0: the space's own."),
    "auxiliary_weight": (*_real(0), "Weight of the auxiliary head's loss (a network with one); 0: none."),
    "drop_path": (*_real(0, 1), "Drop-path probability reached at the last epoch (from 0 at the first)."),
    "cutout": (*_whole(0), "Side of the square cut out of every training image; 0: no cutout."),
}


def field_problem(name, value):
    """Why ``value`` cannot be the recipe field ``name``, or None."""
    accepts, wanted, _ = FIELDS[name]
    return None if accepts(value) else f"{name} is {value!r}; it must be {wanted}"


@contract.values(Recipe)
def _check(recipe):
    for name in FIELDS:
        problem = field_problem(name, getattr(recipe, name, vars(Recipe).get(name)))
        if problem:
            return f"recipe '{recipe.name}': {problem} (the contract: tenas_kit.recipe.Recipe)"
    return None


def resolve(recipe, overrides):
    """Every field's value: the recipe's, or the override given (None: not given), each checked."""
    unknown = set(overrides) - set(FIELDS)
    if unknown:
        raise TenasError(f"unknown recipe field(s) {', '.join(sorted(unknown))}; the fields are "
                         f"{', '.join(FIELDS)}.")
    fields = {}
    for name in FIELDS:
        value = overrides.get(name)
        given = value is not None
        value = value if given else getattr(recipe, name, vars(Recipe).get(name))
        problem = field_problem(name, value)
        if problem:
            flag = "--" + name.replace("_", "-")
            raise TenasError(f"{flag}: {problem}." if given else
                             f"recipe '{recipe.name}' breaks its contract: {problem}; fix its plugin.")
        fields[name] = value
    return fields


def learning_rate(fields, epoch):
    """The learning rate of ``epoch`` (0-based): cosine annealing from ``lr`` at epoch 0 towards ``lr_min``
    at epoch ``epochs``, as NAS-Bench-201's and DARTS's schedulers compute it per epoch."""
    lr, low = fields["lr"], fields["lr_min"]
    return low + (lr - low) * (1 + math.cos(math.pi * epoch / fields["epochs"])) / 2


def drop_path(fields, epoch):
    """The drop-path probability of ``epoch``: DARTS's ``drop_path_prob * epoch / epochs``."""
    return fields["drop_path"] * epoch / fields["epochs"]
