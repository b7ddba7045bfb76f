"""VKDNW and MeCo compute what their official code computes, where a naive reading would not.

VKDNW: the singular values as ``torch.svd`` gives them, on a matrix where the
values-only algorithm gives others. MeCo: the sum over module calls of the
network the official code builds, counted by hand from that code's module
nesting (NB201: ``foresight/models/nasbench2.py``; DARTS: DARTS's
``cnn/operations.py``, ``model_search.py`` and ``model.py``), each term
recomputed with numpy.
"""

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)


# --- VKDNW ------------------------------------------------------------------------------------------------


def test_vkdnw_entropy_takes_the_singular_values_as_the_official_code_does():
    from tenaskit_builtins.vkdnw import decile_entropy

    # Eigenvalues over 30 decades: most lie below float32 resolution, where the algorithm decides them.
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(32, 32, generator=g, dtype=torch.float64))
    fisher = ((q * torch.logspace(0, -30, 32, dtype=torch.float64)) @ q.T).float()
    lambdas = torch.svd(fisher).S  # the official lines, from here to the entropy
    quantiles = torch.quantile(lambdas, torch.arange(0.1, 1.0, 0.1))
    t = quantiles / (torch.linalg.norm(quantiles, ord=1).item() + 1e-10)
    official = float(-(t * torch.log(t + 1e-10)).sum())
    assert (lambdas < lambdas[0] * torch.finfo(torch.float32).eps).sum() > 16
    assert decile_entropy(fisher) == pytest.approx(official, rel=1e-6)


def test_the_corrected_definitions_change_the_score_store_keys(registry):
    """MeCo and VKDNW give other numbers than before the corrections: their settings, part of every score's
    key, differ from the earlier ones, so a store filled before serves none of the earlier numbers."""
    earlier = {
        "meco": {"images": 1, "init": "pytorch", "network": "evaluation"},
        "vkdnw": {"batch_size": 64, "init": "kaiming_fan_in", "input": "gaussian", "network": "evaluation",
                  "bn": "eval", "tensors": 128, "smoothing": 0.05},
    }
    for name, settings in earlier.items():
        now = registry.get("proxy", name).settings({}, {})
        assert now != settings and {k: now[k] for k in settings} == settings


# --- MeCo: the terms --------------------------------------------------------------------------------------


def term(output):
    """The official per-output term, in numpy: least eigenvalue of the first sample's row correlations."""
    rows = output[0].detach().numpy()
    rows = rows.reshape(rows.shape[0], -1)
    if rows.shape[0] < 2:
        return 0.0
    with np.errstate(all="ignore"):
        corr = np.corrcoef(rows)
    corr[~np.isfinite(corr)] = 0
    return float(np.linalg.eigvalsh(corr).min())


class Tally:
    """The expected MeCo: ``add(output, calls)`` for each output, as often as module calls return it."""

    def __init__(self):
        self.total = 0.0

    def add(self, output, calls):
        self.total += calls * term(output)
        return output

    def layers(self, seq, h, last):
        """Each layer of ``seq`` once, its last output ``last`` times (the layer, and wrappers returning it)."""
        for k, layer in enumerate(seq):
            h = self.add(layer(h), last if k == len(seq) - 1 else 1)
        return h


class Wrapped(nn.Module):
    """A wrapper the reference does not have around a Sequential it wraps twice, and a layer called twice."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4))
        self.body.reference_calls = 2
        self.relu = nn.ReLU()
        self.reference_calls = 0

    def forward(self, x):
        return self.relu(self.relu(self.body(x)) - 0.5)


def test_meco_counts_each_module_call_as_often_as_the_reference_returns_its_output():
    from tenaskit_builtins.meco import meco

    torch.manual_seed(4)
    net = Wrapped().double().train()
    x = torch.randn(1, 3, 5, 5, dtype=torch.float64)
    with torch.no_grad():
        conv = net.body[0](x)
        bn = net.body[1](conv)
        first = torch.relu(bn)
        second = torch.relu(first - 0.5)
    # conv once; bn by itself and twice by the Sequential; each ReLU call once; the wrapper's output not at all.
    by_hand = term(conv) + 3 * term(bn) + term(first) + term(second)
    assert term(second) != 0 and abs(term(bn)) > 1e-3
    assert meco(net, x) == pytest.approx(by_hand, rel=1e-10)


# --- MeCo on NAS-Bench-201 --------------------------------------------------------------------------------


def nb201_by_hand(net, x):
    """The official NB201 network's module calls: the stem module, its Sequential and its BN return the stem's
    output; a ReLUConvBN module, its Sequential and its BN the unit's; a POOLING module and its AvgPool2d the
    pool op's; an Identity the skip op's input; a Zero op zeros (adding 0); no module an edge's or a node's sum;
    a SearchCell its output, and a stage's nn.Sequential its last cell's once more; the reduction block its
    sum, its residual Sequential and conv the shortcut; lastact's Sequential and ReLU its output."""
    from tenaskit_builtins.nb201.layout import EDGES, NODES, OPS
    from tenaskit_builtins.nb201.network import Cell

    tally = Tally()
    s = tally.layers(net.stem, x, 3) if isinstance(net.stem, nn.Sequential) else x
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Cell):
            nodes = [s]
            for target in range(1, NODES):
                total = torch.zeros_like(s)
                for e, (t, j) in enumerate(EDGES):
                    names = [OPS[k] for k in np.flatnonzero(net.mask[0, e])] if t == target else []
                    outs = [torch.zeros_like(s) if n == "none" else
                            tally.add(nodes[j], 1) if n == "skip_connect" else
                            tally.add(layer.edges[e].ops[str(OPS.index(n))](nodes[j]), 2) if n == "avg_pool_3x3" else
                            tally.layers(layer.edges[e].ops[str(OPS.index(n))], nodes[j], 3) for n in names]
                    total = total + sum(outs) / len(outs) if outs else total
                nodes.append(total)
            last = i + 1 == len(net.layers) or not isinstance(net.layers[i + 1], Cell)
            s = tally.add(nodes[-1], 2 if last else 1)
        else:
            unit = tally.layers(layer.conv_b, tally.layers(layer.conv_a, s, 3), 3)
            shortcut = tally.add(layer.downsample[1](tally.add(layer.downsample[0](s), 1)), 2)
            s = tally.add(shortcut + unit, 1)
    tally.add(net.lastact[1](tally.add(net.lastact[0](s), 1)), 2)
    return tally.total  # the pooled vector and the logits: one column each, 0


MIXED = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|skip_connect~2|"


@pytest.mark.parametrize("build", ["two cells per stage", "supernet of every op", "thin"])
def test_meco_on_nb201_sums_the_module_calls_of_the_official_network(nb201, build):
    from tenaskit_builtins.meco import meco
    from tenaskit_builtins.nb201.network import Network

    torch.manual_seed(5)
    if build == "two cells per stage":  # a stage's last cell differs from the others
        net = Network(nb201.arch_to_mask(nb201.parse(MIXED)), 3, 2, 10)
    elif build == "supernet of every op":  # the edges' means: the official network has no module returning them
        net = nb201.network(nb201.layout.full_mask(), "supernet", 10)
    else:  # no stem: the input is no module's output
        net = nb201.network(nb201.arch_to_mask(nb201.parse(MIXED)), "thin", 10, 3)
    net = net.double().train()
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        expected = nb201_by_hand(net, x)
    assert meco(net, x) == pytest.approx(expected, rel=1e-9)


# --- MeCo on DARTS ----------------------------------------------------------------------------------------


def darts_op_by_hand(tally, op, h):
    """DARTS's module calls for one op: SepConv, DilConv and ReLUConvBN are a module around one Sequential
    (its last BN's output three times); FactorizedReduce a module whose BN's output is its own, its input
    sliced without a module; Identity and the pools one call."""
    from tenaskit_builtins.darts.ops import DilConv, FactorizedReduce, ReLUConvBN, SepConv

    if isinstance(op, SepConv):
        return tally.layers(op[1], tally.layers(op[0], h, 1), 3)
    if isinstance(op, (DilConv, ReLUConvBN)):
        return tally.layers(op, h, 3)
    if isinstance(op, FactorizedReduce):
        r = tally.add(op.relu(h), 1)
        halves = [tally.add(op.conv_1(r), 1), tally.add(op.conv_2(F.pad(r, (0, 1, 0, 1))[:, :, 1:, 1:]), 1)]
        return tally.add(op.bn(torch.cat(halves, 1)), 2)
    return tally.add(op(h), 1)


def darts_cell_by_hand(tally, cell, s0, s1, alive, edge_calls):
    """``edge_calls``: 1 in the search network (DARTS's MixedOp returns an edge's sum), 0 in the evaluation
    network (its cell holds the ops themselves)."""
    from tenaskit_builtins.darts.layout import EDGES, NODE_EDGES, NODES, OPS

    states = [darts_op_by_hand(tally, cell.preprocess0, s0), darts_op_by_hand(tally, cell.preprocess1, s1)]
    for k in NODES:
        total = 0
        for e in NODE_EDGES[k]:
            names = [OPS[i] for i in np.flatnonzero(alive[e])]
            outs = [darts_op_by_hand(tally, cell.edges[e].ops[str(OPS.index(n))], states[EDGES[e][1]])
                    for n in names if n != "none"]
            if outs:
                total = total + tally.add(sum(outs) / len(names), edge_calls)
        states.append(total)
    return tally.add(torch.cat(states[2:], 1), 1)


def darts_by_hand(net, x, search):
    tally = Tally()
    s0 = s1 = tally.layers(net.stem, x, 2) if isinstance(net.stem, nn.Sequential) else x
    for cell in net.cells:
        s0, s1 = s1, darts_cell_by_hand(tally, cell, s0, s1, net.mask[cell.kind], 1 if search else 0)
    if search:
        tally.add(net.lastact[1](tally.add(net.lastact[0](s1), 1)), 2)  # TE-NAS's lastact: its Sequential and ReLU
    return tally.total


@pytest.mark.parametrize("build", ["search network of every op", "thin", "evaluation network of a genotype"])
def test_meco_on_darts_sums_the_module_calls_of_dartss_own_network(registry, build):
    from tenaskit_builtins.darts.evaluation import NetworkCIFAR
    from tenaskit_builtins.darts.network import SearchNetwork
    from tenaskit_builtins.meco import meco

    darts = registry.get("space", "darts")
    torch.manual_seed(6)
    if build == "search network of every op":
        net = SearchNetwork(darts.layout.full_mask(), 4, 10)
    elif build == "thin":  # no stem: the input is no module's output
        net = darts.network(darts.layout.full_mask(), "thin", 10, 3)
    else:
        genotype = darts.arch_to_mask(darts.sample(np.random.default_rng(0)))
        net = NetworkCIFAR(genotype, 10, channels=4, layers=3)
    net = net.double().train()
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        expected = darts_by_hand(net, x, search=not build.startswith("evaluation"))
    assert meco(net, x) == pytest.approx(expected, rel=1e-9)
