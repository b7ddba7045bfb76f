"""CUDA against CPU: every built-in proxy and one NB201 search round give the same numbers on both,
for the same masks, the same batches and the same weights, within the tolerances stated below.

Skipped only where PyTorch sees no CUDA device. Both sides run in full FP32: cuDNN's default for
float32 convolutions is TF32 (10-bit mantissas, about 1e-3 relative per layer), a precision choice
rather than a device-path bug, and it would hide one under its noise. What is left between the two
devices is the order of float32 sums (about 1e-7 relative per operation) and the few proxies whose
number is a count of signs, where a value within that rounding of zero can flip.
"""

import contextlib

import numpy as np
import pytest
import torch

from tenas_kit import SearchConfig, search
from tenas_kit.data import open_images
from tenas_kit.proxy import ProxyContext
from tenas_kit.runfile import read

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: nothing to compare the CPU with")

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|"
OPTIONS = {"batch_size": 8, "proxy_batch_size": 8, "region_samples": 200}

# (relative, absolute) tolerance of the CUDA score against the CPU score, and why.
TOLERANCE = {
    "params": (0, 0),  # counts of modules that run: no arithmetic that depends on the device
    "flops": (0, 0),
    "synflow": (1e-9, 0),  # float64 throughout (linearised network)
    "naswot": (1e-4, 0),  # float64 slogdet of a kernel of signs; a sign flip moves one entry by 1 of ~1000s
    "snip": (1e-4, 0),  # float32 forward and backward, one batch: sum-order rounding only
    "grad_norm": (1e-4, 0),
    "zen": (1e-3, 0),  # a float32 difference of two forwards at gamma 0.01: rounding is amplified ~100x
    "jacob_cov": (1e-3, 0),  # eigenvalues of a correlation matrix, then 1 / (v + 1e-5): amplifies small v
    "ntk": (1e-3, 0),  # lambda_max / lambda_min: float32 rounding of J times the condition number
    "regions": (0, 2),  # a count: each sample whose code flips at a near-zero unit moves it by at most 1
}


@contextlib.contextmanager
def full_fp32():
    """No TF32 for cuDNN convolutions or CUDA matmuls while the block runs (this process only)."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    if hasattr(getattr(cudnn, "conv", None), "fp32_precision"):  # the API of PyTorch >= 2.9
        saved = cudnn.conv.fp32_precision, matmul.fp32_precision
        cudnn.conv.fp32_precision = matmul.fp32_precision = "ieee"
        try:
            yield
        finally:
            cudnn.conv.fp32_precision, matmul.fp32_precision = saved
    else:
        saved = cudnn.allow_tf32, matmul.allow_tf32
        cudnn.allow_tf32 = matmul.allow_tf32 = False
        try:
            yield
        finally:
            cudnn.allow_tf32, matmul.allow_tf32 = saved


def supernet(space):
    mask = space.layout.full_mask()
    mask[..., space.layout.ops.index("none")] = False  # a search's first round
    return mask


def context(registry, name, device, images):
    space, dataset = registry.get("space", "nb201"), registry.get("dataset", "cifar10")
    proxy = registry.get("proxy", name)
    settings = proxy.settings(dict(OPTIONS), space.defaults(dataset.name))
    ctx = ProxyContext(space, supernet(space), dataset, images, torch.device(device), dict(OPTIONS), 0, 0, 0,
                       proxy.name, settings)
    return proxy, ctx


@pytest.mark.parametrize("name", sorted(TOLERANCE))
def test_each_proxy_scores_the_same_on_cuda_as_on_cpu(registry, name):
    assert name in registry.names("proxy")
    space = registry.get("space", "nb201")
    images = open_images(registry, "synthetic", registry.get("dataset", "cifar10"))  # one source: one batch cache
    proxy, on_cpu = context(registry, name, "cpu", images)
    _, on_cuda = context(registry, name, "cuda", images)
    # The same batches and the same weights, before any score is compared.
    assert torch.equal(on_cpu.batch(8), on_cuda.batch(8).cpu())
    cpu_net, cuda_net = on_cpu.network("supernet"), on_cuda.network("supernet")
    for (key, a), (_, b) in zip(cpu_net.state_dict().items(), cuda_net.state_dict().items()):
        assert torch.equal(a, b.cpu()), key
    base = supernet(space)
    candidate = base.copy()
    candidate[0, 0, space.layout.ops.index("nor_conv_3x3")] = False  # one of the round's candidates
    masks = {"supernet": base, "candidate": candidate, "single path": space.arch_to_mask(space.parse(ARCH))}
    with full_fp32():
        cpu_score, cuda_score = proxy.prepare(on_cpu), proxy.prepare(on_cuda)
        scores = {label: (cpu_score(mask), cuda_score(mask)) for label, mask in masks.items()}
    rel, abs_ = TOLERANCE[name]
    for label, (cpu, cuda) in scores.items():
        assert np.isfinite(cpu), (label, cpu)
        assert cuda == pytest.approx(cpu, rel=rel, abs=abs_), (name, label, cpu, cuda)


def test_an_nb201_search_round_is_the_same_on_cuda_as_on_cpu(tmp_path, registry):
    config = {"data": "synthetic", "repeats": 1, "seed": 0, "options": {"batch_size": 8, "region_samples": 200}}
    with full_fp32():  # workers=1: scoring runs in this process, under these settings
        search(SearchConfig(device="cpu", **config), out=tmp_path / "cpu.h5", workers=1)
        search(SearchConfig(device="cuda", **config), out=tmp_path / "cuda.h5", workers=1)
    cpu, cuda = read(tmp_path / "cpu.h5")["rounds"][0], read(tmp_path / "cuda.h5")["rounds"][0]
    assert cpu["labels"] == cuda["labels"] and len(cpu["labels"]) == 24  # the same candidates, in order
    for name in ("ntk", "regions"):
        rel, abs_ = TOLERANCE[name]
        a, b = cpu["proxies"][name], cuda["proxies"][name]
        np.testing.assert_allclose(b["base"], a["base"], rtol=rel, atol=abs_)
        np.testing.assert_allclose(b["values"], a["values"], rtol=rel, atol=abs_)
    # The decision is a function of the changes rounded to 3 decimals (one repeat: the recorded column).
    # Device rounding can move a change across a rounding boundary, one step of 0.001 at most; where no
    # change moved, the two devices must remove the same ops.
    moved = False
    for name in ("ntk", "regions"):
        a, b = cpu["columns"][f"change_{name}"], cuda["columns"][f"change_{name}"]
        assert np.max(np.abs(a - b)) <= 0.001 + 1e-9, name
        moved |= not np.array_equal(a, b)
    if not moved:
        np.testing.assert_array_equal(cpu["columns"]["removed"], cuda["columns"]["removed"])
        np.testing.assert_array_equal(cpu["mask_after"], cuda["mask_after"])
