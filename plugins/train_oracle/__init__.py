"""The oracle ``train``: each queried cell trained with its space's recipe, shortened, on the search's own images;
its answer is the accuracy on images held out of them (``run --queries N --oracle train --oracle-epochs E``).

Every cell is trained on the same images with the search's seed, and tested on the same held-out images (a
share of every class, the same whatever the cell or seed: ``tenas_kit.training.splits``), never on a test split.
Each training is a training file where ``tenaskit train`` keeps one (``runs/train-...h5``): a query cut short
resumes its cell's training, and a cell asked again with the same settings is answered from its file.
"""

import click

from tenas_kit.hookspecs import hookimpl

# NAS-Bench-201's short budget (it publishes every cell's accuracy after 12 epochs as well as after 200),
# the one RoBoT and MF-NAS measure cells with.
EPOCHS = 12


class TrainOracle:
    name = "train"
    description = ("trains each queried cell (its space's recipe, --oracle-epochs epochs) on the search's --data "
                   "and answers its accuracy on held-out images")
    space = None  # any space whose plugin builds a network to train (train_network)
    metrics = ("accuracy",)
    uses_data = True
    cli_options = [
        click.Option(["--oracle-epochs"], type=click.IntRange(min=1), default=None,
                     help=f"Epochs the train oracle trains each queried cell (default {EPOCHS})."),
        click.Option(["--oracle-subset"], type=click.IntRange(min=2), default=None,
                     help="Training images the train oracle uses per cell (default: all but the held-out ones)."),
    ]

    def measure(self, space, arch, metric, seed, data=None, dataset=None, options=None):
        from tenas_kit.training.lifecycle import Training
        from tenas_kit.training.splits import HOLDOUT

        options = options or {}
        training = Training(arch=arch, space=space.name, data=data, dataset=dataset, seed=seed, holdout=HOLDOUT,
                            epochs=options.get("oracle_epochs") or EPOCHS, subset=options.get("oracle_subset"))
        return training.run().accuracy


@hookimpl
def register_oracles(register):
    register(TrainOracle())
