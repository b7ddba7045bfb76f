"""Each proxy draws its Kaiming weights with the fan its definition names.

kappa_N with fan_out and R_N with fan_in (the TE-NAS paper), AZ-NAS and VKDNW
with fan_in whatever ``--init`` says (their code), and every other proxy under
``--init kaiming`` with fan_in (VKDNW's jacov). On a layer whose fan-in and
fan-out are equal both modes draw alike, so each proxy here scores a network
whose widening layers have twice the fan-out of their fan-in, and the
weights it scored are read back.
"""

import numpy as np
import pytest
import torch
import torch.nn as nn

from tenas_kit import SearchConfig
from tenas_kit.plan import plan as make_plan
from tenas_kit.proxy import ProxyContext

torch.set_num_threads(1)

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|"


class Recording:
    """The space, except that every role builds its search supernet (C=3, N=1, on the channels asked for),
    whose ResNet blocks widen 3 -> 6 -> 12 channels; every network built is kept."""

    def __init__(self, space):
        self.space, self.built = space, []

    def __getattr__(self, name):
        return getattr(self.space, name)

    def network(self, mask, role, num_classes, in_channels=3):
        self.built.append(self.space.network(mask, "supernet", num_classes, in_channels))
        return self.built[-1]


def scored_network(registry, name, options):
    """The network ``name`` scores, after it has scored ARCH once."""
    from tenaskit_builtins import az_nas

    config = SearchConfig(data="synthetic", dataset="cifar10", proxies=[(name, 1.0)], options=options)
    plan = make_plan(registry, config)
    proxy, _, settings = plan.proxies[0]
    space = Recording(plan.space)
    mask = space.arch_to_mask(space.parse(ARCH))
    ctx = ProxyContext(space, mask, plan.dataset, plan.images, plan.device, config.options, 0, 0, 0, proxy.name,
                       settings)
    az_nas._cache.clear()  # AZ-NAS builds its network on a score the cache does not hold
    proxy.prepare(ctx)(mask)
    (network,) = space.built
    return network


def variance_ratio(network, mode):
    """Over the weights of the layers whose fans differ twofold or more: mean of w^2 / (2 / fan), the ratio of
    their variance to Kaiming's (ReLU gain) for the fan ``mode``; 1 where they were drawn so."""
    total, count = 0.0, 0
    for m in network.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            w = m.weight.detach().double()
            receptive = w[0][0].numel()
            fan = {"fan_in": w.shape[1] * receptive, "fan_out": w.shape[0] * receptive}
            if max(fan.values()) >= 2 * min(fan.values()):
                total += float((w**2).sum()) * fan[mode] / 2
                count += w.numel()
    assert count > 800
    return total / count


@pytest.mark.parametrize("name, options, mode", [
    ("ntk", {"init": "kaiming", "batch_size": 4}, "fan_out"),
    ("regions", {"init": "kaiming", "region_samples": 8, "region_batches": 1, "region_crop": 4}, "fan_in"),
    ("jacob_cov", {"init": "kaiming", "proxy_batch_size": 4}, "fan_in"),
    ("az_expressivity", {"proxy_batch_size": 4}, "fan_in"),
    ("vkdnw", {"proxy_batch_size": 4}, "fan_in"),
])
def test_each_proxy_draws_its_kaiming_weights_with_its_fan(registry, name, options, mode):
    other = {"fan_in": "fan_out", "fan_out": "fan_in"}[mode]
    network = scored_network(registry, name, options)
    assert variance_ratio(network, mode) == pytest.approx(1.0, abs=0.15)
    assert abs(np.log(variance_ratio(network, other))) > np.log(1.6)
