import h5py
import numpy as np
import pytest
import torch

from tenas_kit import SearchConfig, search
from tenas_kit.errors import Interrupted
from tenas_kit.h5content import content, differences
from tenas_kit.lifecycle import Reporter
from tenas_kit.plan import plan as make_plan
from tenas_kit.runfile import partial_path, read

SMALL = {"batch_size": 6, "region_samples": 64}


def config(**changes):
    base = SearchConfig(data="synthetic", repeats=2, seed=3, options=dict(SMALL))
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def test_same_seed_gives_same_scores_and_architecture(tmp_path, registry):
    arch_a, _ = search(config(), out=tmp_path / "a.h5")
    arch_b, _ = search(config(), out=tmp_path / "b.h5")
    assert arch_a == arch_b
    assert len(read(tmp_path / "a.h5")["rounds"]) == 3
    assert differences(content(tmp_path / "a.h5"), content(tmp_path / "b.h5")) == []


def test_run_file_records_rounds_trajectory_and_result(tmp_path, registry):
    arch, path = search(config(), out=tmp_path / "run.h5")
    run = read(path)
    assert run["complete"] and run["architecture"] == arch
    assert len(run["rounds"]) == 3  # 4 ops per edge after 'none' -> 3 rounds
    assert [len(r["labels"]) for r in run["rounds"]] == [24, 18, 12]
    assert [int(r["columns"]["removed"].sum()) for r in run["rounds"]] == [6, 6, 6]
    assert set(run["final"]) == {"ntk", "regions"}
    assert run["config"]["seed"] == 3 and "torch" in run["versions"]
    assert not partial_path(path).exists()


class StopAfter(Reporter):
    def __init__(self, rounds):
        self.rounds = rounds

    def round_finished(self, round_index, candidates, decision, seconds):
        if round_index + 1 == self.rounds:
            raise KeyboardInterrupt


def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, registry):
    whole, _ = search(config(), out=tmp_path / "whole.h5")
    out = tmp_path / "cut.h5"
    with pytest.raises(Interrupted):
        search(config(), out=out, reporter=StopAfter(2))
    assert not out.exists() and partial_path(out).exists()
    with h5py.File(partial_path(out), "r") as h5:
        assert h5.attrs["rounds_done"] == 2 and not h5.attrs["complete"]
    resumed, _ = search(config(), out=out)
    assert resumed == whole
    assert len(read(out)["rounds"]) == 3
    assert differences(content(tmp_path / "whole.h5"), content(out)) == []


def test_kaiming_init_redraws_weights_per_repeat_and_pytorch_init_does_not(registry):
    cfg = config()
    plan = make_plan(registry, cfg)
    space, dataset = plan.space, plan.dataset
    mask = space.layout.full_mask()

    def network(init, repeat, role="supernet", fan_mode="fan_out"):
        from tenas_kit.proxy import ProxyContext

        ctx = ProxyContext(space, mask, dataset, plan.images, plan.device, {"init": init}, 0, 0, repeat, "ntk")
        return ctx.network(role, fan_mode)

    def weights(init, repeat):
        return network(init, repeat).stem[0].weight.detach()

    assert np.array_equal(weights("pytorch", 0), weights("pytorch", 1))
    assert not np.array_equal(weights("kaiming", 0), weights("kaiming", 1))
    # Kaiming normal, std sqrt(2 / fan), checked on every conv whose fan_in and fan_out differ (the
    # evaluation network's stem is 3 -> 16 channels, 3x3: fan_in 27, fan_out 144), so a swapped fan
    # mode is off by sqrt(fan_out / fan_in), at least sqrt(2). The tolerance is 4 standard errors of
    # a sample std (relative 1 / sqrt(2 n)), 14% for the stem's 432 weights, down to 1% for the widest.
    for mode in ("fan_in", "fan_out"):
        convs = [m for m in network("kaiming", 0, "evaluation", mode).modules()
                 if isinstance(m, torch.nn.Conv2d) and m.in_channels != m.out_channels]
        assert any(c.in_channels == 3 and c.out_channels == 16 and c.kernel_size == (3, 3) for c in convs)
        for conv in convs:
            k = conv.kernel_size[0] * conv.kernel_size[1]
            fans = {"fan_in": conv.in_channels * k // conv.groups, "fan_out": conv.out_channels * k // conv.groups}
            n = conv.weight.numel()
            tolerance = 4 / (2 * n) ** 0.5
            assert abs(max(fans.values()) / min(fans.values())) ** 0.5 - 1 > tolerance  # the test can tell
            std = conv.weight.detach().double().std().item()
            assert abs(std / (2 / fans[mode]) ** 0.5 - 1) < tolerance, (mode, conv, std)


def test_each_indicator_asks_for_the_fan_mode_of_its_definition(registry):
    """TENAS.md 1: Kaiming fan_out for kappa_N (ntk), fan_in for R_N (regions)."""
    from tenas_kit.proxy import ProxyContext

    plan = make_plan(registry, config(options={**SMALL, "init": "kaiming"}))
    asked = []

    class Spy(ProxyContext):
        def network(self, role, fan_mode="fan_in", in_channels=3):
            asked.append((self.proxy, role, fan_mode))
            return super().network(role, fan_mode, in_channels)

    mask = plan.space.layout.full_mask()
    for proxy, _, settings in plan.proxies:
        proxy.prepare(Spy(plan.space, mask, plan.dataset, plan.images, plan.device, {"init": "kaiming", **SMALL}, 0, 0, 0,
                          proxy.name, settings))
    assert sorted(asked) == [("ntk", "supernet", "fan_out"), ("regions", "thin", "fan_in")]


def test_mismatched_partial_run_is_refused_and_kept(tmp_path, registry):
    out = tmp_path / "cut.h5"
    with pytest.raises(Interrupted):
        search(config(), out=out, reporter=StopAfter(1))
    from tenas_kit.errors import TenasError

    with pytest.raises(TenasError, match="other settings"):
        search(config(seed=4), out=out)
    with h5py.File(partial_path(out), "r") as h5:
        assert h5.attrs["rounds_done"] == 1


def test_two_worker_processes_give_bit_identical_numbers(tmp_path, registry):
    arch_one, _ = search(config(repeats=1), out=tmp_path / "one.h5", workers=1)
    arch_two, _ = search(config(repeats=1), out=tmp_path / "two.h5", workers=2)
    assert arch_one == arch_two
    one, two = read(tmp_path / "one.h5"), read(tmp_path / "two.h5")
    assert len(one["rounds"]) == len(two["rounds"]) == 3
    for ra, rb in zip(one["rounds"], two["rounds"]):
        assert ra["labels"] == rb["labels"]  # the same candidates, in the same order
        np.testing.assert_array_equal(ra["mask_after"], rb["mask_after"])
        assert ra["columns"].keys() == rb["columns"].keys()
        for name in ra["columns"]:  # ranks, importance, which were removed
            np.testing.assert_array_equal(ra["columns"][name], rb["columns"][name])
        assert ra["proxies"].keys() == rb["proxies"].keys() == {"ntk", "regions"}
        for name in ra["proxies"]:
            np.testing.assert_array_equal(ra["proxies"][name]["base"], rb["proxies"][name]["base"])
            np.testing.assert_array_equal(ra["proxies"][name]["values"], rb["proxies"][name]["values"])
    # Everything else in the files as well (wall-clock fields aside).
    assert differences(content(tmp_path / "one.h5"), content(tmp_path / "two.h5")) == []
