"""grad_norm (Abdelfattah et al., ICLR 2021) as a tenas-kit proxy.

Score: the sum, over the weight of every convolution and linear layer, of the
L2 norm of the gradient of the cross-entropy loss on one labelled batch
(train-mode BatchNorm). Layers the candidate does not run get no gradient and
add nothing. Sources without labels (embedded, synthetic, flat folders) get
labels drawn uniformly at random over the dataset's classes.
"""

from tenas_kit.hookspecs import hookimpl
from tenas_kit.proxy import BatchProxy

# torch is imported inside the functions: plugins are imported while the CLI starts.


def grad_norm(network, inputs, labels):
    import torch
    import torch.nn.functional as F

    from tenas_kit.nn.probes import layer_weights

    weights = layer_weights(network)
    loss = F.cross_entropy(network(inputs), labels)
    # autograd.grad, not backward: no .grad accumulates between the masks a scorer is called with.
    grads = torch.autograd.grad(loss, weights, allow_unused=True)
    return sum(float(g.norm()) for g in grads if g is not None)


class GradNorm(BatchProxy):
    name = "grad_norm"
    description = "grad_norm: sum of L2 norms of the loss gradients of conv/linear weights (higher is better)"
    higher_is_better = True  # published correlation with accuracy is positive (Kendall tau about 0.35)
    labelled = True

    def measure(self, network, batch):
        return grad_norm(network, *batch)


@hookimpl
def register_proxies(register):
    register(GradNorm())
