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
