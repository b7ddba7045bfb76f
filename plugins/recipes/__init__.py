"""Built-in training recipes: NAS-Bench-201's and DARTS's, each number as its paper and code give it."""

from tenas_kit.hookspecs import hookimpl


class Recipe:
    def __init__(self, name, description, source, **fields):
        self.name, self.description, self.source = name, description, source
        vars(self).update(fields)


# Every cell of NAS-Bench-201's table was trained so (hyper-parameters "200E", random crop after 4-pixel
# padding and horizontal flip); C=16 and N=5 are its network's width and cells per stage.
NB201 = Recipe(
    "nb201", "NAS-Bench-201's training: SGD, Nesterov momentum, cosine from 0.1, 200 epochs, C=16, N=5",
    "Dong & Yang, NAS-Bench-201 (ICLR 2020), section 2.3; D-X-Y/AutoDL-Projects, "
    "configs/nas-benchmark/hyper-opts/200E.config",
    epochs=200, batch_size=256, lr=0.1, lr_min=0.0, momentum=0.9, nesterov=True, weight_decay=5e-4,
    channels=16, cells=5,
)

# DARTS's evaluation on CIFAR-10: 20 cells of 36 initial channels, auxiliary head, drop path and cutout.
DARTS = Recipe(
    "darts", "DARTS's evaluation: SGD from 0.025, cosine, 600 epochs, 20 cells, C=36, auxiliary head, "
    "drop path 0.2, cutout 16",
    "Liu, Simonyan & Yang, DARTS (ICLR 2019), appendix A.2; quark0/darts, cnn/train.py",
    epochs=600, batch_size=96, lr=0.025, lr_min=0.0, momentum=0.9, weight_decay=3e-4, grad_clip=5.0,
    channels=36, cells=20, auxiliary_weight=0.4, drop_path=0.2, cutout=16,
)


@hookimpl
def register_recipes(register):
    register(NB201)
    register(DARTS)
