import pytest
import torch
import torch.nn as nn

from tenas_kit.nn.layers import AvgPool2d


@pytest.mark.parametrize("kernel,stride,padding,size", [(3, 1, 1, 7), (3, 2, 1, 8), (3, 2, 1, 9), (2, 2, 0, 6), (5, 3, 2, 11)])
@pytest.mark.parametrize("grad", [True, False])
def test_depthwise_average_pool_equals_torch_pool_without_padding_counts(kernel, stride, padding, size, grad):
    x = torch.randn(4, 3, size, size, dtype=torch.float64)
    stock = nn.AvgPool2d(kernel, stride=stride, padding=padding, count_include_pad=False)
    ours = AvgPool2d(kernel, stride=stride, padding=padding)
    with torch.set_grad_enabled(grad):
        torch.testing.assert_close(ours(x), stock(x), rtol=1e-12, atol=1e-12)


def test_pooling_without_autograd_is_no_convolution_to_a_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        AvgPool2d(3, 1, 1)(x)
    assert counter.get_total_flops() == 0
    with FlopCounterMode(display=False) as counter:  # with autograd: the batched-backward form
        AvgPool2d(3, 1, 1)(x)
    assert counter.get_total_flops() > 0


def test_depthwise_average_pool_gradient_equals_torch_pool():
    x = torch.randn(2, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    g_ours, = torch.autograd.grad(AvgPool2d(3, 1, 1)(x).square().sum(), x)
    g_stock, = torch.autograd.grad(nn.AvgPool2d(3, 1, 1, count_include_pad=False)(x).square().sum(), x)
    torch.testing.assert_close(g_ours, g_stock)


def test_network_chooses_its_cpu_kernels_for_the_duration_only():
    from tenas_kit.nn.layers import cpu_kernels

    class Thin(nn.Module):
        onednn = False

    before = torch._C._get_mkldnn_enabled()
    with cpu_kernels(Thin()):
        assert torch._C._get_mkldnn_enabled() is False
    with cpu_kernels(nn.Identity()):
        assert torch._C._get_mkldnn_enabled() is before
    assert torch._C._get_mkldnn_enabled() is before
