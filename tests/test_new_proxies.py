"""AZ-NAS's indicators, VKDNW, ZiCo, MeCo and SWAP: registered, and equal to independent computations.

Each formula is recomputed another way on a tiny network: numpy for the linear
algebra, a per-sample autograd loop or a full Jacobian for the derivatives,
the reference's own ``.backward()`` for ZiCo's gradients.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from tenas_kit import SearchConfig
from tenas_kit.plan import plan as make_plan
from tenas_kit.proxy import ProxyContext

torch.set_num_threads(1)

NAMES = ["az_expressivity", "az_progressivity", "az_trainability", "az_complexity", "vkdnw", "zico", "meco", "swap"]
PAPER_NETWORK = {"az_expressivity": "evaluation", "az_progressivity": "evaluation", "az_trainability": "evaluation",
                 "az_complexity": "evaluation", "vkdnw": "evaluation", "zico": "evaluation", "meco": "evaluation",
                 "swap": "supernet"}
ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|"
ONE_CONV = "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"
DISCONNECTED = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
# Small and fast: the search supernet (C=3, N=1) and 8 images, whatever network the paper scored.
FAST = {"proxy_network": "supernet", "proxy_batch_size": 8}


def scorer(registry, name, arch=ARCH, options=None, ctx_mask=None):
    options = dict(FAST if options is None else options)
    config = SearchConfig(data="synthetic", dataset="cifar10", proxies=[(name, 1.0)], options=options)
    plan = make_plan(registry, config)
    proxy, _, settings = plan.proxies[0]
    mask = plan.space.arch_to_mask(plan.space.parse(arch))
    ctx = ProxyContext(plan.space, mask if ctx_mask is None else ctx_mask, plan.dataset, plan.images, plan.device,
                       config.options, 0, 0, 0, proxy.name, settings)
    return proxy.prepare(ctx), mask


# --- registration and contract -------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_each_proxy_is_registered_defaults_to_its_papers_network_and_scores_nb201(registry, name):
    proxy = registry.get("proxy", name)
    assert proxy.name == name and proxy.higher_is_better is True and proxy.description
    assert proxy.settings({}, {})["network"] == PAPER_NETWORK[name]
    assert proxy.settings({"proxy_network": "thin"}, {})["network"] == "thin"
    score, mask = scorer(registry, name)
    value = score(mask)
    assert isinstance(value, float) and math.isfinite(value)
    assert score(mask) == value  # a pure function of the mask


@pytest.mark.parametrize("name", NAMES)
def test_a_cell_whose_output_ignores_its_input_scores_no_better_than_a_working_one(registry, name):
    dead, dead_mask = scorer(registry, name, arch=DISCONNECTED)
    working, working_mask = scorer(registry, name, arch=ARCH)
    value = dead(dead_mask)
    assert isinstance(value, float) and (math.isnan(value) or value < working(working_mask))


def test_batch_settings_follow_the_shared_option_where_the_paper_has_a_batch(registry):
    for name in ["az_expressivity", "az_trainability", "vkdnw", "zico"]:
        proxy = registry.get("proxy", name)
        assert proxy.settings({}, {})["batch_size"] == 64
        assert proxy.settings({"proxy_batch_size": 8}, {})["batch_size"] == 8
    # MeCo reads one image and SWAP 16 by definition; AZ-NAS and VKDNW fix their initialisation.
    assert registry.get("proxy", "meco").settings({"proxy_batch_size": 8}, {})["images"] == 1
    assert registry.get("proxy", "swap").settings({"proxy_batch_size": 8}, {})["samples"] == 16
    for name in ["az_expressivity", "vkdnw"]:
        assert registry.get("proxy", name).settings({"init": "pytorch"}, {})["init"] == "kaiming_fan_in"
    assert registry.get("proxy", "zico").settings({"init": "kaiming"}, {})["init"] == "kaiming"


def test_az_indicators_share_one_network_and_input(registry):
    """The three data-based indicators read one forward pass: prepared under different proxy names, they
    still see the same weights (the reference computes all three on one network)."""
    from tenaskit_builtins import az_nas

    az_nas._cache.clear()
    values = {}
    for name in ["az_expressivity", "az_progressivity", "az_trainability"]:
        score, mask = scorer(registry, name)
        values[name] = score(mask)
    az_nas._cache.clear()
    cached = az_nas._cache
    score, mask = scorer(registry, "az_trainability")
    assert score(mask) == values["az_trainability"] and len(cached) == 1
    (entry,) = cached.values()
    assert entry == {"expressivity": values["az_expressivity"], "progressivity": values["az_progressivity"],
                     "trainability": values["az_trainability"]}


# --- AZ-NAS -----------------------------------------------------------------------------------------------


class Cells(nn.Module):
    """Stem, two cells and a stride-2 block: the attributes AZ-NAS's feature reader looks for."""

    def __init__(self, cells=None, width=6):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4))
        self.layers = nn.ModuleList(cells if cells is not None else [
            nn.Sequential(nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)),
            nn.Sequential(nn.ReLU(), nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(6)),
            nn.Sequential(nn.ReLU(), nn.Conv2d(6, 6, 1, bias=False), nn.BatchNorm2d(6)),
        ])
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 3))

    def forward(self, x):
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


def entropy_numpy(feature):
    f = feature.detach().numpy()
    rows = f.transpose(0, 2, 3, 1).reshape(-1, f.shape[1])
    s = np.linalg.eigvalsh(np.cov(rows.T, bias=True))
    p = s / s.sum()
    return float(np.sum(-p * np.log(p + 1e-8)))


def test_az_expressivity_and_progressivity_equal_numpy_eigenvalues_of_the_features():
    from tenaskit_builtins.az_nas import cell_features, expressivity_and_progressivity

    torch.manual_seed(0)
    net = Cells().double().train()
    x = torch.randn(5, 3, 6, 6, dtype=torch.float64)
    with torch.no_grad():  # the features by hand: stem, then each cell on the previous output
        features = [net.stem(x)]
        for layer in net.layers:
            features.append(layer(features[-1]))
    entropies = [entropy_numpy(f) for f in features]
    expressivity, progressivity = expressivity_and_progressivity(cell_features(net, x))
    assert expressivity == pytest.approx(sum(entropies), rel=1e-10)
    assert progressivity == pytest.approx(min(b - a for a, b in zip(entropies, entropies[1:])), rel=1e-8)


def unshuffle_numpy(g, s):
    b, c, h, w = g.shape
    return g.reshape(b, c, h // s, s, w // s, s).transpose(0, 1, 3, 5, 2, 4).reshape(b, c * s * s, h // s, w // s)


def test_az_trainability_equals_the_full_jacobian_computation():
    """Each cell's input gradient from its full Jacobian (train-mode BatchNorm couples the samples), the
    stride-2 block's unshuffled by reshaping, the singular values by numpy."""
    from tenaskit_builtins.az_nas import cell_features, trainability

    torch.manual_seed(1)
    net = Cells().double().train()
    x = torch.randn(4, 3, 4, 4, dtype=torch.float64)
    features = cell_features(net, x)
    rng = np.random.default_rng(0)
    # The reference draws the signs last pair first; so does the draw below, in the same order.
    signs = [rng.choice([-1.0, 1.0], size=tuple(features[i].shape)) for i in reversed(range(1, len(features)))]
    queue = list(signs)
    got = trainability(features, lambda like: torch.from_numpy(queue.pop(0)))

    with torch.no_grad():
        inputs = [net.stem(x)]
        for layer in net.layers:
            inputs.append(layer(inputs[-1]))
    scores = []
    for k, i in enumerate(reversed(range(1, len(inputs)))):
        jac = torch.autograd.functional.jacobian(net.layers[i - 1], inputs[i - 1]).numpy()  # out dims + in dims
        g_in = np.tensordot(signs[k], jac, axes=4)
        g_out = signs[k]
        if g_in.shape[2] != g_out.shape[2]:
            g_in = unshuffle_numpy(g_in, g_in.shape[2] // g_out.shape[2])
        rows_in = g_in.transpose(0, 2, 3, 1).reshape(-1, g_in.shape[1])
        rows_out = g_out.transpose(0, 2, 3, 1).reshape(-1, g_out.shape[1])
        s = np.linalg.svd(rows_in.T @ rows_out / len(rows_out), compute_uv=False).max()
        scores.append(-s - 1 / (s + 1e-6) + 2)
    assert got == pytest.approx(np.mean(scores), rel=1e-9)


class Zeros(nn.Module):
    def forward(self, x):
        return torch.zeros_like(x)


def test_az_trainability_of_identity_and_disconnected_cells():
    from tenaskit_builtins.az_nas import cell_features, trainability

    x = torch.randn(2, 3, 4, 4)
    ones = lambda like: torch.ones_like(like)  # noqa: E731
    # A cell passing its cotangent through unchanged: -inf, as the reference scores it.
    assert trainability(cell_features(Cells([nn.Identity()], width=4), x), ones) == -math.inf
    # A cell whose output ignores its input: zero Jacobian, s = 0, -1/(0 + 1e-6) + 2.
    assert trainability(cell_features(Cells([Zeros()], width=4), x), ones) == pytest.approx(-1e6 + 2)


def test_az_complexity_counts_the_multiply_adds_of_an_all_skip_cell(registry):
    # All-skip cells add none: stem, the two reduction blocks, the classifier (test_zero_cost's hand count).
    all_skip = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    score, mask = scorer(registry, "az_complexity", arch=all_skip)
    blocks = sum((a * b * 9 + b * b * 9 + a * b) * s * s for a, b, s in ((3, 6, 16), (6, 12, 8)))
    assert score(mask) == 3 * 3 * 9 * 32 * 32 + blocks + 12 * 10


# --- VKDNW ------------------------------------------------------------------------------------------------


def vkdnw_net():
    torch.manual_seed(2)
    net = nn.Sequential(nn.Conv2d(3, 2, 3, stride=2, padding=1), nn.BatchNorm2d(2), nn.ReLU(),
                        nn.Conv2d(2, 3, 1, bias=False), nn.BatchNorm2d(3), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4)).double()
    with torch.no_grad():  # statistics and affine parameters away from their defaults, so every term matters
        for bn in (net[1], net[4]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    return net.eval()


def per_sample_jacobian(net, x):
    """J[n, c, k] by a loop: each sample alone, each logit's gradient, element 0 of every parameter."""
    params = list(net.parameters())
    rows = []
    for n in range(len(x)):
        out = net(x[n : n + 1])[0]
        rows.append([[float(g.reshape(-1)[0]) for g in torch.autograd.grad(out[c], params, retain_graph=True)]
                     for c in range(len(out))])
    return np.array(rows)


def test_vkdnw_jacobian_equals_a_per_sample_autograd_loop():
    from tenaskit_builtins.vkdnw import jacobian

    net = vkdnw_net()
    x = torch.randn(5, 3, 6, 6, dtype=torch.float64)
    expected = per_sample_jacobian(net, x)
    assert expected.shape == (5, 4, 9)
    logits, jac, _ = jacobian(net, x, 128)
    np.testing.assert_allclose(jac.numpy(), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(jacobian(net, x, 4)[1].numpy(), expected[:, :, :4], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(logits.numpy(), net(x).detach().numpy())


def cholesky_numpy(p):
    """Lower Cholesky factor of diag(p) - p p^T (rank C-1): numpy's on the leading block, the last row solved."""
    sigma = np.diag(p) - np.outer(p, p)
    c = len(p)
    lower = np.zeros((c, c))
    lower[: c - 1, : c - 1] = np.linalg.cholesky(sigma[: c - 1, : c - 1])
    lower[c - 1, : c - 1] = np.linalg.solve(lower[: c - 1, : c - 1], sigma[: c - 1, c - 1])
    # Rank C-1: nothing is left for the last diagonal entry (up to rounding).
    assert abs(sigma[c - 1, c - 1] - lower[c - 1, : c - 1] @ lower[c - 1, : c - 1]) < 1e-12
    return lower


def test_vkdnw_fisher_and_entropy_equal_numpy():
    from tenaskit_builtins.vkdnw import multinomial_cholesky, vkdnw

    net = vkdnw_net()
    x = torch.randn(6, 3, 6, 6, dtype=torch.float64)
    jac = per_sample_jacobian(net, x)
    alpha = float(np.float16(0.05))
    with torch.no_grad():
        p = torch.softmax(net(x), 1).numpy() * (1 - alpha) + alpha / 4
    factors = [cholesky_numpy(row) for row in p]
    np.testing.assert_allclose(multinomial_cholesky(torch.from_numpy(p)).numpy(), np.stack(factors), atol=1e-12)
    # The reference's product: the mean of (L J)^T (L J).
    fisher = np.mean([(lo @ j).T @ (lo @ j) for lo, j in zip(factors, jac)], axis=0)
    q = np.quantile(np.linalg.svd(fisher, compute_uv=False), np.arange(1, 10) / 10)
    t = q / (np.abs(q).sum() + 1e-10)
    tensors, entropy = vkdnw(net, x)
    assert tensors == 9  # conv weight and bias, two BatchNorms' weight and bias, conv weight, linear weight and bias
    assert entropy == pytest.approx(-np.sum(t * np.log(t + 1e-10)), rel=1e-9)
    assert vkdnw(net, x, chunk=4) == pytest.approx((tensors, entropy), rel=1e-12)  # eval mode: samples independent


def test_vkdnw_score_orders_by_tensor_count_then_entropy(registry):
    one, one_mask = scorer(registry, "vkdnw", arch=ONE_CONV)
    many, many_mask = scorer(registry, "vkdnw", arch=ARCH)
    # The network with every op of ARCH has more parameter tensors; the fraction is the entropy / 10.
    assert int(many(many_mask)) > int(one(one_mask))
    assert 0 <= one(one_mask) % 1 < math.log(9) / 10 + 1e-9


# --- ZiCo -------------------------------------------------------------------------------------------------


class Unused(nn.Module):
    """A network with a convolution that never runs: it has no gradient and ZiCo skips it."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
        self.spare = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.body(x)


def test_zico_equals_the_reference_backward_and_closed_form_statistics():
    from tenaskit_builtins.zico import layer_gradients, zico

    torch.manual_seed(3)
    net = Unused().double().train()
    batches = [(torch.randn(6, 3, 5, 5, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2])) for _ in range(2)]
    grads = {}
    for x, y in batches:  # the reference's way: .backward() and each layer's .grad
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        for name, m in net.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.grad is not None:
                grads.setdefault(name, []).append(m.weight.grad.reshape(-1).numpy().copy())
    assert "spare" not in grads and len(grads) == 3
    expected = 0.0
    for g1, g2 in grads.values():
        std = np.abs(g1 - g2) / 2  # two samples: the population std in closed form
        mean = (np.abs(g1) + np.abs(g2)) / 2
        expected += math.log(np.sum(mean[std > 0] / std[std > 0]))
    net.zero_grad(set_to_none=True)
    assert zico([layer_gradients(net, *batch) for batch in batches]) == pytest.approx(expected, rel=1e-10)


def test_zico_skips_a_layer_whose_gradient_is_the_same_in_both_batches():
    from tenaskit_builtins.zico import zico

    same = np.array([0.5, -1.0, 0.0])
    varying = [np.array([1.0, 2.0]), np.array([3.0, 2.0])]
    # Layer a adds nothing (std 0 everywhere); layer b: only its first element varies: mean 2, std 1.
    assert zico([{"a": same, "b": varying[0]}, {"a": same, "b": varying[1]}]) == pytest.approx(math.log(2.0))


# --- MeCo -------------------------------------------------------------------------------------------------


def min_eigenvalue_numpy(output):
    rows = output[0].reshape(output.shape[1], -1)
    with np.errstate(all="ignore"):
        corr = np.corrcoef(rows)
    corr[~np.isfinite(corr)] = 0
    return float(np.linalg.eigvalsh(corr).min())


def test_meco_sums_the_least_correlation_eigenvalue_of_every_module_output():
    from tenaskit_builtins.meco import meco

    torch.manual_seed(4)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(4, 3)).double().train()
    image = torch.randn(1, 3, 5, 5, dtype=torch.float64)
    with torch.no_grad():
        conv = net[0](image)
        bn = net[1](conv)
        relu = net[2](bn)
    # The pooled map, the flat vector, the logits and the whole network's output have one column each: 0.
    expected = sum(min_eigenvalue_numpy(t.numpy()) for t in (conv, bn, relu))
    assert expected > 0
    assert meco(net, image) == pytest.approx(expected, rel=1e-9)


def test_meco_term_sets_the_undefined_correlations_of_a_constant_channel_to_zero():
    from tenaskit_builtins.meco import min_correlation_eigenvalue

    rows = np.random.default_rng(1).standard_normal((1, 4, 3, 3))
    rows[0, 2] = 0.0  # a channel switched off: its correlations are NaN, set to 0
    assert min_correlation_eigenvalue(torch.from_numpy(rows)) == pytest.approx(min_eigenvalue_numpy(rows), abs=1e-12)


def test_meco_term_of_a_single_channel_output_is_zero():
    """One row has no correlation matrix (corrcoef returns a scalar): the term adds nothing, as a single
    column does. DARTS's search network has such outputs."""
    from tenaskit_builtins.meco import min_correlation_eigenvalue

    single = torch.randn(1, 1, 4, 4)
    assert min_correlation_eigenvalue(single) == 0.0


@pytest.mark.parametrize("space, role", [("nb201", "evaluation"), ("darts", "supernet")])
def test_meco_scores_the_papers_network_where_a_search_can_use_it(registry, space, role):
    """DARTS's evaluation network is built from one genotype: a search's supernets need the search network."""
    config = SearchConfig(space=space, proxies=[("meco", 1.0)], data="synthetic", repeats=1)
    settings = make_plan(registry, config, open_data=False).proxies[0][2]
    assert settings["network"] == role
    config.options["proxy_network"] = "thin" if space == "nb201" else "evaluation"
    assert make_plan(registry, config, open_data=False).proxies[0][2]["network"] == config.options["proxy_network"]


# --- SWAP -------------------------------------------------------------------------------------------------


def test_swap_patterns_equal_numpy_unique_rows_of_the_relu_signs():
    from tenaskit_builtins.swap import distinct_patterns

    torch.manual_seed(5)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 5, 3), nn.ReLU(), nn.Flatten(),
                        nn.Linear(5 * 4 * 4, 7), nn.ReLU()).train()
    x = torch.randn(6, 3, 6, 6)
    with torch.no_grad():
        first = torch.relu(net[0](x))
        second = torch.relu(net[2](first))
    units = np.concatenate([first.reshape(6, -1).numpy(), second.reshape(6, -1).numpy()], 1)  # the 2-D ReLU is left out
    expected = len(np.unique(np.sign(units).T, axis=0))
    assert 1 < expected < units.shape[1]
    assert distinct_patterns(net, x) == expected


def test_swap_averages_over_gaussian_redraws():
    from tenas_kit.nn.init import gaussian
    from tenaskit_builtins.swap import distinct_patterns, swap

    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    x = torch.randn(5, 3, 4, 4)
    counts = []
    generator = torch.Generator().manual_seed(7)
    for _ in range(3):
        gaussian(net, generator)
        assert float(net[0].weight.detach().std()) > 0.5 and not net[0].bias.any()  # N(0, 1), not fan-scaled
        counts.append(distinct_patterns(net, x))
    assert swap(net, x, torch.Generator().manual_seed(7), repeats=3) == pytest.approx(np.mean(counts))


def test_swap_regulariser_uses_the_parameters_that_run_in_thousands(registry):
    # ONE_CONV on the C=3, N=1 network: stem, one 3x3 conv per cell, two ResNet blocks, head (test_zero_cost).
    stem = 3 * 3 * 9 + 6
    cells = sum(c * c * 9 + 2 * c for c in (3, 6, 12))
    blocks = sum(a * b * 9 + 2 * b + b * b * 9 + 2 * b + a * b for a, b in ((3, 6), (6, 12)))
    parameters = stem + cells + blocks + 2 * 12 + 12 * 10 + 10
    raw, mask = scorer(registry, "swap", ONE_CONV, {"swap_sigma": math.inf})
    regular, _ = scorer(registry, "swap", ONE_CONV, {"swap_mu": 5.0, "swap_sigma": 4.0})
    assert raw(mask) > 1
    assert regular(mask) / raw(mask) == pytest.approx(math.exp(-((parameters / 1e3 - 5.0) ** 2) / 4.0), rel=1e-12)
    # Default: mu the network with every op on every edge, sigma mu^2.
    nb201 = registry.get("space", "nb201")
    mu = sum(p.numel() for p in nb201.network(nb201.layout.full_mask(), "supernet", 10).parameters()) / 1e3
    default, _ = scorer(registry, "swap", ONE_CONV, {})
    assert default(mask) / raw(mask) == pytest.approx(math.exp(-((parameters / 1e3 - mu) ** 2) / mu**2), rel=1e-12)
