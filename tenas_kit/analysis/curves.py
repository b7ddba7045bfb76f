"""A training run's learning curve: loss and accuracy after every epoch, on the training and the test images."""

from __future__ import annotations

import numpy as np

from tenas_kit.analysis import plots  # noqa: F401  (first: it sets matplotlib's file-only backend)
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def tested_on(held):
    """What a training file's test column measured: the test split or held-out images."""
    return "held-out" if held["config"].get("evaluation", "").startswith("held out") else "test"


def curve_figure(held):
    """Two panels, loss and accuracy against epochs; ``held`` is what ``trainfile.read`` returns."""
    epochs = held["epochs"]
    xs = np.arange(1, int(held["epochs_done"]) + 1)
    fig = Figure(figsize=(11, 4.2))
    loss, accuracy = fig.subplots(1, 2)
    other = tested_on(held)
    for ax, column, title in ((loss, "loss", "cross-entropy loss"), (accuracy, "accuracy", "accuracy (%)")):
        ax.plot(xs, epochs[f"train_{column}"], label="training (augmented)", color="tab:blue")
        ax.plot(xs, epochs[f"test_{column}"], label=other, color="tab:orange")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    if len(xs):
        last = epochs["test_accuracy"][-1]
        accuracy.plot(xs[-1:], [last], "o", color="tab:orange")
        accuracy.annotate(f"{last:.2f}%", (xs[-1], last), textcoords="offset points", xytext=(-6, 6), ha="right",
                          color="tab:orange")
    config = held["config"]
    fig.suptitle(f"{config['space']} cell trained with recipe {config['recipe']} on {config['dataset']}: "
                 f"{len(xs)} of {config['fields']['epochs']} epochs", fontsize=10)
    return fig
