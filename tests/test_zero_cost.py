"""Built-in zero-cost proxies: registered, finite on NB201, and equal to independent computations."""

import copy
import math
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from tenas_kit import SearchConfig
from tenas_kit.plan import plan as make_plan
from tenas_kit.proxy import ProxyContext

torch.set_num_threads(1)

NAMES = ["naswot", "synflow", "snip", "grad_norm", "jacob_cov", "zen", "params", "flops"]
ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|"
ONE_CONV = "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"  # only edge 3<-0 carries an op


def plan_for(registry, names, data="synthetic", dataset="cifar10"):
    config = SearchConfig(data=data, dataset=dataset, proxies=[(n, 1.0) for n in names], options={"proxy_batch_size": 8})
    return make_plan(registry, config), config


def context(plan, config, mask, index=0, seed=0):
    proxy, _, settings = plan.proxies[index]
    return ProxyContext(plan.space, mask, plan.dataset, plan.images, plan.device, config.options, seed, 0, 0,
                        proxy.name, settings)


def scorer(registry, name, arch=ARCH, ctx_mask=None):
    plan, config = plan_for(registry, [name])
    mask = plan.space.arch_to_mask(plan.space.parse(arch))
    ctx = context(plan, config, mask if ctx_mask is None else ctx_mask)
    return plan.proxies[0][0].prepare(ctx), mask


@pytest.mark.parametrize("name", NAMES)
def test_each_proxy_is_registered_and_scores_an_nb201_architecture(registry, name):
    proxy = registry.get("proxy", name)
    assert proxy.name == name and proxy.higher_is_better is True and proxy.description
    settings = proxy.settings({"proxy_batch_size": 8}, {})
    assert settings["network"] == "supernet"
    score, mask = scorer(registry, name)
    value = score(mask)
    assert isinstance(value, float) and math.isfinite(value)
    assert score(mask) == value  # a scorer is a pure function of the mask


DISCONNECTED = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"  # the output does not depend on the input

# What each proxy gives a cell whose output is zero whatever the input (10% accuracy on NB201), and why.
# Every value ranks below any connected cell's: NaN and -inf rank last, 0 is the least a sum of |.| can be.
DEAD_CELL = {
    "naswot": -math.inf,  # every sample has the same ReLU code: K is singular, log|K| = -inf (its docstring)
    "jacob_cov": math.nan,  # zero input Jacobian: the correlation matrix is undefined (its docstring)
    "zen": -math.inf,  # x and x + 0.01 eps give the same features: log(0)
    "synflow": 0.0,  # the output does not depend on any conv or linear weight...
    "snip": 0.0,  # ...nor does the loss: logits = the classifier's bias, so every weight gradient is 0
    "grad_norm": 0.0,
    # Only modules that run count: stem 3*3*9 + 6, the two ResNet blocks (conv a, BN, conv b, BN, 1x1
    # shortcut), final BN 2*12, classifier 12*10 + 10; test_params_... below counts the same terms.
    "params": 87 + 528 + 2064 + 24 + 130,
    # Stem 3*3*9 at 32x32, the blocks at 16x16 and 8x8, the classifier: as all-skip cells (test_flops_...).
    "flops": 3 * 3 * 9 * 32 * 32 + (3 * 6 * 9 + 6 * 6 * 9 + 3 * 6) * 16 * 16 + (6 * 12 * 9 + 12 * 12 * 9 + 6 * 12) * 8 * 8 + 120,
}


@pytest.mark.parametrize("name", NAMES)
def test_each_proxy_scores_a_cell_whose_output_ignores_its_input_as_documented_and_last(registry, name):
    score, mask = scorer(registry, name, arch=DISCONNECTED)
    value = score(mask)
    expected = DEAD_CELL[name]
    assert isinstance(value, float)  # raising, or returning a tensor, would stop a whole ranking
    if math.isnan(expected):
        assert math.isnan(value)
    else:
        assert value == expected
    # Ranked against a working cell (higher is better for all of them), the dead cell comes last.
    working, working_mask = scorer(registry, name, arch=ARCH)
    assert math.isfinite(working(working_mask)) and (math.isnan(value) or value < working(working_mask))


def test_batch_settings_default_and_follow_options(registry):
    for name in ["naswot", "snip", "grad_norm", "jacob_cov", "zen"]:
        proxy = registry.get("proxy", name)
        assert proxy.settings({}, {"batch_size": 72}) == proxy.settings({"proxy_batch_size": 64, "init": "pytorch"}, {})
        assert proxy.settings({"proxy_batch_size": 8, "init": "kaiming"}, {})["batch_size"] == 8
        # zen's N(0, 1) initialisation is part of its definition (Zen-NAS); the others follow --init.
        assert proxy.settings({"init": "kaiming"}, {})["init"] == ("gaussian" if name == "zen" else "kaiming")


def test_scorers_leave_the_shared_batch_untouched(registry):
    plan, config = plan_for(registry, ["jacob_cov", "snip"])
    mask = plan.space.arch_to_mask(plan.space.parse(ARCH))
    for index in range(2):
        ctx = context(plan, config, mask, index)
        before = ctx.batch(8).clone()
        plan.proxies[index][0].prepare(ctx)(mask)
        after = ctx.batch(8)
        assert torch.equal(before, after) and after.grad is None and not after.requires_grad


def test_params_equals_a_hand_count_and_ignores_ops_outside_the_mask(registry, nb201):
    # C=3, N=1 network; the one op is a nor_conv_3x3 (conv C*C*9, BatchNorm 2C) in each of the three cells.
    stem = 3 * 3 * 9 + 6
    cells = sum(c * c * 9 + 2 * c for c in (3, 6, 12))
    blocks = sum(a * b * 9 + 2 * b + b * b * 9 + 2 * b + a * b for a, b in ((3, 6), (6, 12)))
    head = 2 * 12 + 12 * 10 + 10
    expected = stem + cells + blocks + head
    single = nb201.network(nb201.arch_to_mask(nb201.parse(ONE_CONV)), "supernet", 10)
    assert sum(p.numel() for p in single.parameters()) == expected  # only the alive ops are built
    score, mask = scorer(registry, "params", ONE_CONV)
    assert score(mask) == expected
    # On a supernet holding every op, only the modules the mask runs count.
    full, _ = scorer(registry, "params", ONE_CONV, ctx_mask=nb201.layout.full_mask())
    assert full(mask) == expected


def test_flops_count_multiply_adds_and_order_skip_below_conv(registry):
    all_skip = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    all_conv = all_skip.replace("skip_connect", "nor_conv_3x3")
    skip_score, skip_mask = scorer(registry, "flops", all_skip)
    conv_score, conv_mask = scorer(registry, "flops", all_conv)
    # All-skip cells add no multiply-adds: stem, the two reduction blocks, the classifier (32x32 input).
    stem = 3 * 3 * 9 * 32 * 32
    blocks = sum((a * b * 9 + b * b * 9 + a * b) * s * s for a, b, s in ((3, 6, 16), (6, 12, 8)))
    assert skip_score(skip_mask) == stem + blocks + 12 * 10
    assert conv_score(conv_mask) > skip_score(skip_mask) > 0


def tiny_relu_net():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 5), nn.ReLU())


def test_naswot_equals_numpy_slogdet_of_the_hamming_kernel():
    from tenaskit_builtins.naswot import naswot

    torch.manual_seed(0)
    net = tiny_relu_net()
    x = torch.randn(6, 3, 4, 4)
    with torch.no_grad():
        h1 = torch.relu(net[0](x))
        h2 = torch.relu(net[2](h1))  # the last ReLU acts on a 2-D tensor and is left out
    codes = np.concatenate([(h > 0).reshape(6, -1).numpy() for h in (h1, h2)], 1).astype(np.int64)
    units = codes.shape[1]
    hamming = (codes[:, None, :] != codes[None, :, :]).sum(-1)
    sign, expected = np.linalg.slogdet((units - hamming).astype(np.float64))
    assert sign != 0
    assert naswot(net, x) == pytest.approx(expected, rel=1e-12)


def test_synflow_equals_the_analytic_value_on_linear_layers():
    from tenaskit_builtins.synflow import linearise, synflow

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    w1, b1, w2, b2 = (p.detach().abs().numpy() for p in net.parameters())
    # All-ones input, |weights|: h = |W1| 1 + |b1| > 0, S = 1^T (|W2| h + |b2|).
    h = w1.sum(1) + b1
    g = w2.sum(0)  # dS/dh
    expected = (w2 * h[None, :]).sum() + (w1 * g[:, None]).sum()  # dS/dW2 = 1 h^T, dS/dW1 = g 1^T
    assert synflow(linearise(net), (1, 4)) == pytest.approx(expected, rel=1e-12)


def test_grad_norm_and_snip_match_a_direct_backward():
    from tenaskit_builtins.grad_norm import grad_norm
    from tenaskit_builtins.snip import snip

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(4, 3)).double()
    x, y = torch.randn(5, 3, 6, 6, dtype=torch.float64), torch.tensor([0, 1, 2, 1, 0])
    F.cross_entropy(net(x), y).backward()
    layers = [net[0], net[5]]
    assert grad_norm(net, x, y) == pytest.approx(sum(float(m.weight.grad.norm()) for m in layers), rel=1e-10)
    assert snip(net, x, y) == pytest.approx(sum(float((m.weight.detach() * m.weight.grad).abs().sum()) for m in layers), rel=1e-10)


def test_jacob_cov_of_known_jacobian_and_zen_of_a_scaled_network():
    from tenaskit_builtins.jacob_cov import correlation_score
    from tenaskit_builtins.zen import zen

    jac = np.random.default_rng(0).standard_normal((4, 50))
    v = np.linalg.eigvalsh(np.corrcoef(jac))
    assert correlation_score(jac) == pytest.approx(-np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5)))
    # Zen on conv -> pool: f is linear, so the feature change is the conv of gamma * eps; no BatchNorm.
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 2, 1, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    x, eps = torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4)
    with torch.no_grad():
        expected = math.log(float(net[0](0.01 * eps).abs().flatten(1).sum(1).mean()))
    assert zen(net, x, eps) == pytest.approx(expected, rel=1e-4)


def test_jacob_cov_input_jacobian_equals_finite_differences_of_the_batch_forward(registry):
    """The input Jacobian against central differences: the summed output of the whole batch (train-mode
    BatchNorm couples the samples) nudged one input value at a time, in float64."""
    from tenaskit_builtins.jacob_cov import input_jacobian

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 3, 3),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 5)).double().train()
    x = torch.randn(5, 3, 5, 5, dtype=torch.float64)
    step = 1e-6
    flat = x.reshape(-1)
    expected = np.zeros(flat.numel())
    with torch.no_grad():
        for j in range(flat.numel()):
            up, down = flat.clone(), flat.clone()
            up[j] += step
            down[j] -= step
            expected[j] = float(net(up.view_as(x)).sum() - net(down.view_as(x)).sum()) / (2 * step)
    expected = expected.reshape(len(x), -1)
    # Row i is d(sum of every output in the batch) / d(sample i): cross-sample terms included.
    np.testing.assert_allclose(input_jacobian(net, x), expected, rtol=1e-6, atol=1e-9)
    # The score, from the finite-difference Jacobian with numpy only.
    v = np.linalg.eigvalsh(np.corrcoef(expected))
    proxy = registry.get("proxy", "jacob_cov")
    assert proxy.measure(net, x) == pytest.approx(-np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5)), rel=1e-6)


def test_synflow_through_batchnorm_equals_an_independent_functional_computation():
    """Per the reference: |parameters|, BatchNorm in eval mode on fresh statistics (mean 0, var 1),
    all-ones input. Written with functional ops on the absolute parameters, so neither the module's mode
    nor its buffers are involved; BN's affine parameters are drawn with negative values so |.| matters."""
    from tenaskit_builtins.synflow import linearise, synflow

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.Conv2d(4, 2, 3), nn.BatchNorm2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3))
    with torch.no_grad():
        for bn in (net[1], net[4]):
            bn.weight.uniform_(-2, 2)
            bn.bias.uniform_(-1, 1)
    w1, g1, b1, w2, cb2, g2, b2, w3, b3 = (p.detach().double().abs().requires_grad_(i in (0, 3, 7))
                                           for i, p in enumerate(net.parameters()))
    eps = net[1].eps
    ones = torch.ones(1, 3, 6, 6, dtype=torch.float64)
    h = F.relu(F.conv2d(ones, w1, padding=1) / math.sqrt(1 + eps) * g1[:, None, None] + b1[:, None, None])
    h = (F.conv2d(h, w2, cb2) / math.sqrt(1 + eps)) * g2[:, None, None] + b2[:, None, None]
    out = F.linear(h.mean((2, 3)), w3, b3)
    grads = torch.autograd.grad(out.sum(), (w1, w2, w3))
    expected = sum(float((w.detach() * g).abs().sum()) for w, g in zip((w1, w2, w3), grads))
    assert synflow(linearise(net), (1, 3, 6, 6)) == pytest.approx(expected, rel=1e-12)


def write_image(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(path)


def test_labelled_batch_reads_imagefolder_classes(tmp_path, registry):
    for i in range(3):
        write_image(tmp_path / "cat" / f"{i}.png", 0)
        write_image(tmp_path / "dog" / f"{i}.png", 255)
    plan, config = plan_for(registry, ["grad_norm"], data=str(tmp_path))
    ctx = context(plan, config, plan.space.layout.full_mask())
    images, labels = ctx.labelled_batch(8)
    assert labels.dtype == torch.long and labels.shape == (8,)
    assert torch.equal(images, ctx.batch(8))  # the same draw as batch()
    white = images[:, 0, 16, 16] > 0  # the centre survives flip and padded crop
    assert torch.equal(labels, white.long())  # classes in sorted order: cat 0, dog 1
    assert set(labels.tolist()) == {0, 1}


def test_unlabelled_sources_get_seeded_random_labels(tmp_path, registry):
    for i in range(4):
        write_image(tmp_path / f"{i}.png", 60 * i)  # flat folder: no labels
    plan, config = plan_for(registry, ["grad_norm"], data=str(tmp_path))
    assert plan.images.labels([0, 1]) is None
    mask = plan.space.layout.full_mask()
    ctx = context(plan, config, mask)
    images, labels = ctx.labelled_batch(64, stream="other")
    # Properties, not the draw itself: a test repeating the code's rng call would agree with any bug in it.
    assert labels.dtype == torch.long and labels.shape == (64,)
    assert int(labels.min()) >= 0 and int(labels.max()) < 10  # valid targets for a 10-class loss
    assert len(set(labels.tolist())) >= 5  # drawn over the classes: not one constant label
    assert torch.equal(images, ctx.batch(64, stream="other"))  # the images are the unlabelled draw's
    # Deterministic per seed: a separately planned source (its own batch cache) gives the same labels.
    plan2, config2 = plan_for(registry, ["grad_norm"], data=str(tmp_path))
    assert plan2.images is not plan.images
    assert torch.equal(context(plan2, config2, mask).labelled_batch(64, stream="other")[1], labels)
    # ...and another seed or another stream draws other labels.
    assert not torch.equal(context(plan, config, mask, seed=1).labelled_batch(64, stream="other")[1], labels)
    assert not torch.equal(ctx.labelled_batch(64, stream="batch")[1], labels)


def test_imagenet16_labels_are_shifted_to_zero_based(tmp_path, registry):
    labels = np.array([1, 5, 120, 121, 7])
    data = np.zeros((5, 3 * 16 * 16), dtype=np.uint8)
    with open(tmp_path / "train_data_batch_1", "wb") as handle:
        pickle.dump({"data": data, "labels": labels.tolist()}, handle)
    plan, _ = plan_for(registry, ["grad_norm"], data=str(tmp_path), dataset="imagenet16-120")
    assert len(plan.images) == 4  # class 121 is outside ImageNet16-120
    assert plan.images.labels(np.arange(4)).tolist() == [0, 4, 119, 6]


def test_zen_batchnorm_term_is_the_running_variance_a_fresh_batchnorm_ends_with():
    from tenas_kit.nn.init import gaussian
    from tenaskit_builtins.zen import zen

    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 5, 1),
                        nn.BatchNorm2d(5, momentum=None), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    gaussian(net, torch.Generator().manual_seed(3))
    assert all(float(m.weight.std()) > 0.5 for m in (net[0], net[3])) and not net[0].bias.any()  # N(0, 1), not fan-scaled
    x, eps = torch.randn(6, 3, 5, 5), torch.randn(6, 3, 5, 5)
    fresh = copy.deepcopy(net)  # zen's own forwards move net's running statistics
    score = zen(net, x, eps)
    # Brute force, the Zen-NAS way: two train-mode forwards through fresh BatchNorms, then read running_var.
    with torch.no_grad():
        clean, mixed = fresh[:5](x), fresh[:5](x + 0.01 * eps)  # the pool's input
    delta = float((clean - mixed).abs().flatten(1).sum(1).mean())
    expected = math.log(delta) + sum(math.log(math.sqrt(float(m.running_var.mean()))) for m in (fresh[1], fresh[4]))
    assert score == pytest.approx(expected, rel=1e-5)
