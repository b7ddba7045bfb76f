"""kappa_N and R_N implementations side by side, and the fast NTK mode validated against exact.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/ntk_modes.py                 # parts 1 and 2
    .venv/bin/python benchmarks/ntk_modes.py --searches 0-4  # part 3 too (5 fast searches)

1. The straightforward per-sample backward loop (the reference's definition,
   written here) against tenas-kit's exact kappa_N on the same NB201 supernets
   and batches: relative difference and time ratio. R_N against the reference's
   pairwise-matrix count.
2. Round 1 of an NB201 search: every candidate's kappa_N change under exact and
   fast mode on the same weights and batches; Kendall tau between the two.
3. Optional: fast-mode searches (seeds), their CIFAR-10 accuracy and wall time.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

from tenas_kit import SearchConfig, engine, plugins
from tenas_kit.analysis.accuracy import AccuracyTable
from tenas_kit.proxy import ProxyContext
from tenas_kit.runfile import read
from tenaskit_builtins.ntk.ntk import condition_number, empirical_ntk, frozen_statistics_ntk
from tenaskit_builtins.regions.regions import activation_codes, count_distinct

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATA = str(SHARED / "cifar10-jpg-mini" / "train")


def loop_kappa(network, inputs):
    """One backward per sample of its summed logits through the full-batch forward."""
    out = network(inputs)
    rows = []
    for i in range(len(inputs)):
        network.zero_grad()
        out[i : i + 1].backward(torch.ones_like(out[i : i + 1]), retain_graph=True)
        rows.append(torch.cat([p.grad.reshape(-1).clone() for n, p in network.named_parameters()
                               if "weight" in n and p.grad is not None]))
    jac = torch.stack(rows).double()
    return condition_number(jac @ jac.T)


def pairwise_regions(codes):
    a = codes.double()
    differ = a @ (1 - a).T
    differ = differ + differ.T
    return float((1.0 / (differ == 0).double().sum(1)).sum())


def context(plan, mask, proxy_index, repeat, mode):
    proxy, _, settings = plan.proxies[proxy_index]
    settings = {**settings, "mode": mode} if proxy.name == "ntk" else settings
    return ProxyContext(plan.space, mask, plan.dataset, plan.images, plan.device, {"ntk_mode": mode}, 0, 0, repeat,
                        proxy.name, settings)


def side_by_side(plan, mask, candidates):
    ctx = context(plan, mask, 0, 0, "exact")
    network, inputs = ctx.network("supernet", "fan_out"), ctx.batch(72)
    worst, t_loop, t_ours = 0.0, 0.0, 0.0
    for m in [mask] + [c.mask for c in candidates[:5]]:
        network.mask = m
        started = time.perf_counter()
        reference = loop_kappa(network, inputs)
        t_loop += time.perf_counter() - started
        started = time.perf_counter()
        ours = condition_number(empirical_ntk(network, inputs, 8))
        t_ours += time.perf_counter() - started
        worst = max(worst, abs(ours - reference) / reference)
    print(f"kappa_N, 6 NB201 supernets at batch 72: max relative difference {worst:.2e}; "
          f"per-sample loop {t_loop / 6:.2f} s, tenas-kit exact {t_ours / 6:.2f} s per kappa (x{t_loop / t_ours:.1f})")
    rctx = context(plan, mask, 1, 0, "exact")
    thin = rctx.network("thin", "fan_in", in_channels=1)
    crops = torch.randn(3000, 1, 3, 3)
    codes = activation_codes(thin, crops)
    started = time.perf_counter()
    ours = count_distinct(codes)
    t_ours = time.perf_counter() - started
    started = time.perf_counter()
    reference = pairwise_regions(codes)
    t_ref = time.perf_counter() - started
    print(f"R_N on 3000 codes of {codes.shape[1]} units: packed {ours} in {t_ours * 1e3:.1f} ms, "
          f"pairwise matrix {reference:.1f} in {t_ref * 1e3:.1f} ms")


def modes_agreement(plan, mask, candidates, repeats=3):
    changes = {}
    for mode, kernel in (("exact", lambda n, x: empirical_ntk(n, x, 8)), ("fast", frozen_statistics_ntk)):
        started = time.perf_counter()
        per_repeat = []
        for repeat in range(repeats):
            ctx = context(plan, mask, 0, repeat, mode)
            network, inputs = ctx.network("supernet", "fan_out"), ctx.batch(72)
            values = []
            for m in [mask] + [c.mask for c in candidates]:
                network.mask = m
                values.append(condition_number(kernel(network, inputs)))
            base = values[0]
            per_repeat.append([(base - v) / base for v in values[1:]])
        changes[mode] = np.mean(per_repeat, axis=0)
        print(f"round 1, {len(candidates)} candidates x {repeats} repeats, {mode}: {time.perf_counter() - started:.0f} s")
    tau = kendalltau(changes["exact"], changes["fast"])[0]
    print(f"Kendall tau between exact and fast kappa_N changes of the round-1 candidates: {tau:.3f}")


def fast_searches(seeds):
    tenaskit = Path(sys.executable).with_name("tenaskit")
    table = AccuracyTable(SHARED / "nb201_cifar10_accuracy.csv")
    space = plugins.registry().get("space", "nb201")
    accuracies, times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            out = Path(tmp) / f"fast{seed}.h5"
            started = time.perf_counter()
            subprocess.run([str(tenaskit), "run", "--data", DATA, "--seed", str(seed), "--ntk-mode", "fast",
                            "--out", str(out)], check=True, capture_output=True)
            times.append(time.perf_counter() - started)
            arch = read(out)["architecture"]
            accuracies.append(table.lookup(space, arch))
            print(f"fast seed {seed}: {arch} acc {accuracies[-1]:.2f} {times[-1]:.0f} s", flush=True)
    print(f"fast mode: mean accuracy {statistics.mean(accuracies):.2f} +- {statistics.pstdev(accuracies):.2f}, "
          f"median wall time {statistics.median(times):.0f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--searches", default=None, help="seeds for fast-mode searches, e.g. 0-4")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the search's scoring processes run
    plan = engine.plan(plugins.registry(), SearchConfig(data=DATA))
    mask = plan.pruner.start(plan.space, plan.space.layout.full_mask(), plan.pruner_settings)
    candidates = plan.pruner.candidates(plan.space, mask, plan.pruner_settings)
    side_by_side(plan, mask, candidates)
    modes_agreement(plan, mask, candidates)
    if args.searches:
        first, _, last = args.searches.partition("-")
        fast_searches(range(int(first), int(last or first) + 1))


if __name__ == "__main__":
    main()
