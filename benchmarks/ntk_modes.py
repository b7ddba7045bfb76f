"""kappa_N and R_N implementations side by side, the fast NTK mode against exact, and where exact kappa_N's time goes.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/ntk_modes.py                # parts 1 and 2
    .venv/bin/python benchmarks/ntk_modes.py --parts 3      # part 3 (a few minutes)

Everything runs in this one process on one PyTorch thread, as the search's
scoring processes do, on round 1 of an NB201 search (seed 0): the full supernet
and its candidates, weights and batches as the search draws them.

1. The straightforward per-sample backward loop (the reference's definition,
   written here) against tenas-kit's exact kappa_N on the supernet and 5
   candidates: relative difference and time per kappa_N. R_N's count (packed
   bits + np.unique) against the reference's pairwise-matrix count on 3000
   random crops' codes.
2. Every candidate's kappa_N change under exact and fast mode on the same
   weights and batches, over ``--repeats``; Kendall tau between the two.
3. Exact kappa_N of the supernet: the first call and ``--calls`` more, each
   chunk size of one-hot cotangents, oneDNN off, torch.func (vjp vmapped over
   the cotangents, chunk 8) with its difference from ours, a torch profile of
   one call (operators by share of self CPU time; convolution_backward calls
   per forward convolution and chunk), and the regions scorer's time.

Times are min / median / max over ``--calls`` calls unless said otherwise.
Fast-mode searches are timed by ``benchmarks/nb201_search.py --extra "--ntk-mode fast"``.
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

from benchlib import machine_line, min_median_max
from tenas_kit import SearchConfig, plugins
from tenas_kit.plan import plan as make_plan
from tenas_kit.proxy import ProxyContext
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


def func_kappa(network, inputs, chunk=8):
    """torch.func: the vjp of the summed logits, vmapped over one-hot cotangents ``chunk`` at a time."""
    from torch.func import functional_call, vjp, vmap

    weights = {n: p.detach() for n, p in network.named_parameters() if "weight" in n and p.requires_grad}
    rest = {n: p.detach() for n, p in network.named_parameters() if n not in weights}
    buffers = dict(network.named_buffers())

    def sums(w):
        return functional_call(network, (w, rest, buffers), (inputs,)).reshape(len(inputs), -1).sum(1)

    # Train-mode BatchNorm would update its running statistics in place, which torch.func refuses; without
    # tracking it still normalises by the batch's statistics, so the function differentiated is the same.
    norms = [m for m in network.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    tracked = [m.track_running_stats for m in norms]
    for m in norms:
        m.track_running_stats = False
    try:
        _, pullback = vjp(sums, weights)
        grads = vmap(pullback, chunk_size=chunk)(torch.eye(len(inputs)))[0]
    finally:
        for m, was in zip(norms, tracked):
            m.track_running_stats = was
    jacobian = torch.cat([g.reshape(len(inputs), -1) for g in grads.values()], 1).double()
    return condition_number(jacobian @ jacobian.T)


def pairwise_regions(codes):
    a = codes.double()
    differ = a @ (1 - a).T
    differ = differ + differ.T
    return float((1.0 / (differ == 0).double().sum(1)).sum())


def context(plan, mask, proxy_index, repeat, mode, batch):
    proxy, _, settings = plan.proxies[proxy_index]
    if proxy.name == "ntk":
        settings = {**settings, "mode": mode, "batch_size": batch}
    return ProxyContext(plan.space, mask, plan.dataset, plan.images, plan.device, {"ntk_mode": mode}, 0, 0, repeat,
                        proxy.name, settings)


def timed(fn, calls):
    seconds, value = [], None
    for _ in range(calls):
        started = time.perf_counter()
        value = fn()
        seconds.append(time.perf_counter() - started)
    return seconds, value


def side_by_side(plan, mask, candidates, batch):
    ctx = context(plan, mask, 0, 0, "exact", batch)
    network, inputs = ctx.network("supernet", "fan_out"), ctx.batch(batch)
    worst, t_loop, t_ours = 0.0, [], []
    masks = [mask] + [c.mask for c in candidates[:5]]
    for m in masks:
        network.mask = m
        started = time.perf_counter()
        reference = loop_kappa(network, inputs)
        t_loop.append(time.perf_counter() - started)
        started = time.perf_counter()
        ours = condition_number(empirical_ntk(network, inputs, 8))
        t_ours.append(time.perf_counter() - started)
        worst = max(worst, abs(ours - reference) / reference)
    print(f"1. kappa_N of {len(masks)} NB201 networks (supernet and candidates) at batch {batch}: max relative "
          f"difference {worst:.2e}; seconds per kappa_N, per-sample loop {min_median_max(t_loop, 2)}, tenas-kit "
          f"exact {min_median_max(t_ours, 2)} (medians x{statistics.median(t_loop) / statistics.median(t_ours):.1f})")
    rctx = context(plan, mask, 1, 0, "exact", batch)
    thin = rctx.network("thin", "fan_in", in_channels=1)
    crops = torch.randn(3000, 1, 3, 3)
    codes = activation_codes(thin, crops)
    started = time.perf_counter()
    ours = count_distinct(codes)
    t_ours = time.perf_counter() - started
    started = time.perf_counter()
    reference = pairwise_regions(codes)
    t_ref = time.perf_counter() - started
    print(f"1. R_N on 3000 random crops' codes of {codes.shape[1]} units: packed {ours} in {t_ours * 1e3:.1f} ms, "
          f"pairwise matrix {reference:.1f} in {t_ref * 1e3:.1f} ms (one call each)")


def modes_agreement(plan, mask, candidates, repeats, batch):
    changes = {}
    for mode, kernel in (("exact", lambda n, x: empirical_ntk(n, x, 8)), ("fast", frozen_statistics_ntk)):
        started = time.perf_counter()
        per_repeat = []
        for repeat in range(repeats):
            ctx = context(plan, mask, 0, repeat, mode, batch)
            network, inputs = ctx.network("supernet", "fan_out"), ctx.batch(batch)
            values = []
            for m in [mask] + [c.mask for c in candidates]:
                network.mask = m
                values.append(condition_number(kernel(network, inputs)))
            base = values[0]
            per_repeat.append([(base - v) / base for v in values[1:]])
        changes[mode] = np.mean(per_repeat, axis=0)
        print(f"2. round 1, {len(candidates)} candidates x {repeats} repeats, {mode}: "
              f"{time.perf_counter() - started:.0f} s (one run)")
    tau = kendalltau(changes["exact"], changes["fast"])[0]
    print(f"2. Kendall tau between exact and fast kappa_N changes of the round-1 candidates: {tau:.3f}")


def profile_shares(network, inputs, chunk):
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        empirical_ntk(network, inputs, chunk)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:6]
    shares = ", ".join(f"{e.key} {100 * e.self_cpu_time_total / total:.0f}%" for e in top)
    count = {e.key: e.count for e in events}
    chunks = -(-len(inputs) // chunk)
    per_conv = count.get("aten::convolution_backward", 0) / max(1, count.get("aten::convolution", 0)) / chunks
    return shares, per_conv, count.get("aten::stack", 0)


def kernel(plan, mask, batch, calls):
    ctx = context(plan, mask, 0, 0, "exact", batch)
    network, inputs = ctx.network("supernet", "fan_out"), ctx.batch(batch)
    started = time.perf_counter()
    ours = condition_number(empirical_ntk(network, inputs, 8))
    first = time.perf_counter() - started
    later, _ = timed(lambda: empirical_ntk(network, inputs, 8), calls)
    print(f"3. exact kappa_N of the round-1 supernet at batch {batch}, chunk 8: first call {first:.2f} s, "
          f"then {min_median_max(later, 2, ' s')} calls")
    for chunk in (1, 2, 4, 8):
        seconds, _ = timed(lambda: empirical_ntk(network, inputs, chunk), calls)
        print(f"3. chunk {chunk}: {min_median_max(seconds, 2, ' s')} calls")
    network.onednn = False
    try:
        seconds, _ = timed(lambda: empirical_ntk(network, inputs, 8), calls)
    finally:
        del network.onednn
    print(f"3. oneDNN off: {min_median_max(seconds, 2, ' s')} calls (on: median {statistics.median(later):.2f} s)")
    seconds, theirs = timed(lambda: func_kappa(network, inputs, 8), calls)
    print(f"3. torch.func vjp + vmap(chunk_size=8): {min_median_max(seconds, 2, ' s')} calls; kappa_N relative "
          f"difference from tenas-kit's {abs(theirs - ours) / ours:.1e}")
    shares, per_conv, stacks = profile_shares(network, inputs, 8)
    print(f"3. profile of one call (chunk 8), operators by self CPU time: {shares}; convolution_backward calls per "
          f"forward convolution per chunk: {per_conv:.1f}; aten::stack calls: {stacks}")
    proxy, _, settings = plan.proxies[1]
    rctx = ProxyContext(plan.space, mask, plan.dataset, plan.images, plan.device, {}, 0, 0, 0, proxy.name, settings)
    score = proxy.prepare(rctx)
    seconds, _ = timed(lambda: score(mask), calls)
    milliseconds = min_median_max([s * 1e3 for s in seconds], 1, " ms")
    print(f"3. regions scorer on the round-1 supernet (after prepare): {milliseconds} calls")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="1,2", help="which parts to run, e.g. 1,2,3")
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--batch", type=int, default=72, help="NTK batch (the search's default is 72)")
    parser.add_argument("--candidates", type=int, default=None, help="part 2: first N round-1 candidates (all)")
    parser.add_argument("--repeats", type=int, default=3, help="part 2: repeats averaged")
    parser.add_argument("--calls", type=int, default=3, help="part 3: timed calls per variant")
    args = parser.parse_args()
    parts = {int(p) for p in args.parts.split(",")}
    torch.set_num_threads(1)  # as the search's scoring processes run
    print(machine_line())
    print(f"parts {sorted(parts)}, data {args.data}, batch {args.batch}, one PyTorch thread", flush=True)
    plan = make_plan(plugins.registry(), SearchConfig(data=args.data))
    mask = plan.pruner.start(plan.space, plan.space.layout.full_mask(), plan.pruner_settings)
    candidates = plan.pruner.candidates(plan.space, mask, plan.pruner_settings)[: args.candidates]
    if 1 in parts:
        side_by_side(plan, mask, candidates, args.batch)
    if 2 in parts:
        modes_agreement(plan, mask, candidates, args.repeats, args.batch)
    if 3 in parts:
        kernel(plan, mask, args.batch, args.calls)


if __name__ == "__main__":
    main()
