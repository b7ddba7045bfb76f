import pytest
import torch
import torch.nn as nn

from tenas_kit.layers import AvgPool2d


@pytest.mark.parametrize("kernel,stride,padding,size", [(3, 1, 1, 7), (3, 2, 1, 8), (3, 2, 1, 9), (2, 2, 0, 6), (5, 3, 2, 11)])
def test_depthwise_average_pool_equals_torch_pool_without_padding_counts(kernel, stride, padding, size):
    x = torch.randn(4, 3, size, size, dtype=torch.float64)
    stock = nn.AvgPool2d(kernel, stride=stride, padding=padding, count_include_pad=False)
    ours = AvgPool2d(kernel, stride=stride, padding=padding)
    torch.testing.assert_close(ours(x), stock(x), rtol=1e-12, atol=1e-12)


def test_depthwise_average_pool_gradient_equals_torch_pool():
    x = torch.randn(2, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    g_ours, = torch.autograd.grad(AvgPool2d(3, 1, 1)(x).square().sum(), x)
    g_stock, = torch.autograd.grad(nn.AvgPool2d(3, 1, 1, count_include_pad=False)(x).square().sum(), x)
    torch.testing.assert_close(g_ours, g_stock)


def test_network_chooses_its_cpu_kernels_for_the_duration_only():
    from tenas_kit.layers import cpu_kernels

    class Thin(nn.Module):
        onednn = False

    before = torch._C._get_mkldnn_enabled()
    with cpu_kernels(Thin()):
        assert torch._C._get_mkldnn_enabled() is False
    with cpu_kernels(nn.Identity()):
        assert torch._C._get_mkldnn_enabled() is before
    assert torch._C._get_mkldnn_enabled() is before
