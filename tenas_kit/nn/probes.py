"""What proxies read off a network, shared by the built-ins and open to third parties."""

import torch
import torch.nn as nn


def layer_weights(network):
    """Convolution and linear weights: what the zero-cost-proxy reference scores (no biases, no BatchNorm)."""
    return [m.weight for m in network.modules() if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))]


@torch.no_grad()
def activation_codes(network, inputs):
    """bool tensor (n, units): the concatenated sign pattern (> 0) of every nn.ReLU acting on a 4-D tensor."""
    captured = []

    def hook(module, args, output):
        if args[0].dim() == 4:
            captured.append((output > 0).reshape(len(inputs), -1))

    handles = [m.register_forward_hook(hook) for m in network.modules() if isinstance(m, nn.ReLU)]
    try:
        network(inputs)
    finally:
        for handle in handles:
            handle.remove()
    if not captured:
        return torch.zeros(len(inputs), 0, dtype=torch.bool)
    return torch.cat(captured, 1)


def reference_calls(module):
    """How many module calls of the space's reference implementation return ``module``'s output.

    A term summed over every module call depends on how a network nests its modules. A space whose
    nesting differs from the reference's sets the attribute ``reference_calls`` on a module: 0 where the
    reference has no module returning that output, 2 where it wraps one in another; 1 when absent.
    """
    return getattr(module, "reference_calls", 1)
