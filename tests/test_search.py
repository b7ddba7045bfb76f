import h5py
import numpy as np
import pytest

from tenas_kit import SearchConfig, engine, search
from tenas_kit.engine import Reporter
from tenas_kit.runfile import partial_path, read

SMALL = {"batch_size": 6, "region_samples": 64}


def config(**changes):
    base = SearchConfig(data="synthetic", repeats=2, seed=3, options=dict(SMALL))
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def rounds(path):
    return [{name: (p["base"], p["values"]) for name, p in r["proxies"].items()} for r in read(path)["rounds"]]


def test_same_seed_gives_same_scores_and_architecture(tmp_path, registry):
    arch_a, _ = search(config(), out=tmp_path / "a.h5")
    arch_b, _ = search(config(), out=tmp_path / "b.h5")
    assert arch_a == arch_b
    for ra, rb in zip(rounds(tmp_path / "a.h5"), rounds(tmp_path / "b.h5")):
        for name in ra:
            np.testing.assert_array_equal(ra[name][0], rb[name][0])
            np.testing.assert_array_equal(ra[name][1], rb[name][1])


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
    with pytest.raises(KeyboardInterrupt):
        search(config(), out=out, reporter=StopAfter(2))
    assert not out.exists() and partial_path(out).exists()
    with h5py.File(partial_path(out), "r") as h5:
        assert h5.attrs["rounds_done"] == 2 and not h5.attrs["complete"]
    resumed, _ = search(config(), out=out)
    assert resumed == whole
    for ra, rb in zip(rounds(tmp_path / "whole.h5"), rounds(out)):
        np.testing.assert_array_equal(ra["ntk"][1], rb["ntk"][1])


def test_kaiming_init_redraws_weights_per_repeat_and_pytorch_init_does_not(registry):
    cfg = config()
    plan = engine.plan(registry, cfg)
    space, dataset = plan.space, plan.dataset
    mask = space.layout.full_mask()

    def weights(init, repeat):
        from tenas_kit.proxy import ProxyContext

        ctx = ProxyContext(space, mask, dataset, plan.images, plan.device, {"init": init}, 0, 0, repeat, "ntk")
        return ctx.network("supernet", "fan_out").stem[0].weight.detach()

    assert np.array_equal(weights("pytorch", 0), weights("pytorch", 1))
    assert not np.array_equal(weights("kaiming", 0), weights("kaiming", 1))
    kaiming = weights("kaiming", 0)
    # fan_out Kaiming normal: std = sqrt(2 / (out_channels * k * k)) = sqrt(2 / 27)
    assert abs(kaiming.std().item() - (2 / 27) ** 0.5) < 0.1


def test_mismatched_partial_run_is_refused_and_kept(tmp_path, registry):
    out = tmp_path / "cut.h5"
    with pytest.raises(KeyboardInterrupt):
        search(config(), out=out, reporter=StopAfter(1))
    from tenas_kit.errors import TenasError

    with pytest.raises(TenasError, match="other settings"):
        search(config(seed=4), out=out)
    with h5py.File(partial_path(out), "r") as h5:
        assert h5.attrs["rounds_done"] == 1


def test_two_worker_processes_give_bit_identical_numbers(tmp_path, registry):
    search(config(repeats=1), out=tmp_path / "one.h5", workers=1)
    search(config(repeats=1), out=tmp_path / "two.h5", workers=2)
    for ra, rb in zip(rounds(tmp_path / "one.h5"), rounds(tmp_path / "two.h5")):
        for name in ra:
            np.testing.assert_array_equal(ra[name][0], rb[name][0])
            np.testing.assert_array_equal(ra[name][1], rb[name][1])
