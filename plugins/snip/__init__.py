"""snip (Lee et al., ICLR 2019; as a zero-cost proxy, Abdelfattah et al., ICLR 2021) as a tenas-kit proxy.

Score: the sum, over the weight of every convolution and linear layer, of
|w * dL/dw|, L the cross-entropy loss on one labelled batch (train-mode
BatchNorm). This equals the reference's |dL/dc| for a multiplicative mask c = 1
on each weight. Sources without labels (embedded, synthetic, flat folders) get
labels drawn uniformly at random over the dataset's classes.
"""

from tenas_kit.hookspecs import hookimpl
from tenas_kit.proxy import BatchProxy

# torch is imported inside the functions: plugins are imported while the CLI starts.


def snip(network, inputs, labels):
    import torch
    import torch.nn.functional as F

    from tenas_kit.nn.probes import layer_weights

    weights = layer_weights(network)
    loss = F.cross_entropy(network(inputs), labels)
    grads = torch.autograd.grad(loss, weights, allow_unused=True)  # no .grad left behind between masks
    return sum(float((w.detach() * g).abs().sum()) for w, g in zip(weights, grads) if g is not None)


class Snip(BatchProxy):
    name = "snip"
    description = "snip: sum of |weight x loss gradient| over conv/linear weights (higher is better)"
    higher_is_better = True  # published correlation with accuracy is positive (Kendall tau about 0.45)
    labelled = True

    def measure(self, network, batch):
        return snip(network, *batch)


@hookimpl
def register_proxies(register):
    register(Snip())
