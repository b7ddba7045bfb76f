import numpy as np
import torch
import torch.nn as nn

from conftest import brute_force_ntk
from tenaskit_builtins.ntk.ntk import NAN_CONDITION, condition_number, empirical_ntk


def small_net():
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1),
        nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5),
    )


def test_kappa_equals_brute_force_per_sample_loop():
    torch.manual_seed(0)
    net = small_net().double().train()
    x = torch.randn(10, 3, 8, 8, dtype=torch.float64)
    fast = empirical_ntk(net, x, chunk=4)
    slow = brute_force_ntk(net, x)
    assert torch.allclose(fast, slow, rtol=1e-10, atol=1e-12)
    expected = np.linalg.eigvalsh(slow.numpy())
    assert abs(condition_number(fast) - expected[-1] / expected[0]) / (expected[-1] / expected[0]) < 1e-5


def test_kappa_on_nb201_supernet_equals_brute_force(nb201):
    mask = nb201.layout.full_mask()
    mask[..., 0] = False
    torch.manual_seed(1)
    net = nb201.network(mask, "supernet", 10).double().train()
    x = torch.randn(6, 3, 32, 32, dtype=torch.float64)
    kappa = condition_number(empirical_ntk(net, x))
    reference = condition_number(brute_force_ntk(net, x))
    assert abs(kappa - reference) / reference < 1e-5


def test_condition_number_of_known_matrix():
    theta = torch.diag(torch.tensor([2.0, 5.0, 10.0], dtype=torch.float64))
    rotation, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))
    assert abs(condition_number(rotation @ theta @ rotation.T) - 5.0) < 1e-9


def test_nan_condition_becomes_reference_constant():
    assert condition_number(torch.full((2, 2), float("nan"), dtype=torch.float64)) == NAN_CONDITION


def test_batchnorm_couples_samples_in_the_kernel():
    # Train-mode BatchNorm must make each row depend on the whole batch: a
    # per-sample (batch-of-one-statistics-free) gradient gives a different kernel.
    torch.manual_seed(0)
    net = small_net().double().train()
    x = torch.randn(6, 3, 8, 8, dtype=torch.float64)
    coupled = empirical_ntk(net, x)
    half = empirical_ntk(net, x[:3])
    assert not torch.allclose(coupled[:3, :3], half)


def test_fast_mode_equals_per_sample_gradients_with_frozen_batch_statistics():
    from tenaskit_builtins.ntk.ntk import batch_statistics, frozen_statistics_ntk

    torch.manual_seed(0)
    net = small_net().double().train()
    x = torch.randn(7, 3, 8, 8, dtype=torch.float64)
    fast = frozen_statistics_ntk(net, x)
    # Independent computation: freeze each BatchNorm at the batch's statistics, one backward per sample.
    stats = batch_statistics(net, x)
    frozen = small_net().double()
    frozen.load_state_dict(net.state_dict())
    for name, module in frozen.named_modules():
        if name in stats:
            module.running_mean.copy_(stats[name][0])
            module.running_var.copy_(stats[name][1])
    frozen.eval()
    assert torch.allclose(frozen(x), net.train()(x))  # same forward values as train mode
    rows = []
    for i in range(len(x)):
        frozen.zero_grad()
        frozen(x[i : i + 1]).sum().backward()
        rows.append(torch.cat([p.grad.reshape(-1) for n, p in frozen.named_parameters() if "weight" in n]))
    jac = torch.stack(rows)
    assert torch.allclose(fast, jac @ jac.T, rtol=1e-10, atol=1e-12)
    assert net.training
