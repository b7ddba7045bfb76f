"""Batch ranking through the HDF5 score store: dedup, caching, workers, shards, kills, errors."""

import csv
import os
import signal
import subprocess
import time

import h5py
import numpy as np

from conftest import TENASKIT, tenaskit
from tenas_kit import SearchConfig, engine
from tenas_kit.ranker import rank
from tenas_kit.scorestore import ScoreStore, merge

SMALL = {"batch_size": 6, "region_samples": 64}
ISOMORPHS = [
    "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|none~1|skip_connect~2|",
    "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|",
]
OTHERS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
]


def plan_for(registry, **changes):
    config = SearchConfig(data="synthetic", repeats=2, seed=1, options=dict(SMALL))
    for key, value in changes.items():
        setattr(config, key, value)
    return engine.plan(registry, config), config


def test_isomorphic_cells_are_scored_once_and_share_the_score(tmp_path, registry):
    plan, config = plan_for(registry)
    ranking = rank(plan, config, ISOMORPHS + OTHERS, ScoreStore(tmp_path / "s.h5"))
    assert ranking.unique == 4
    assert ranking.computed == 4 * 2 * 2  # cells x proxies x repeats
    for name in ranking.scores:
        assert ranking.scores[name][0] == ranking.scores[name][1]


def test_second_request_and_overlapping_request_compute_only_what_is_missing(tmp_path, registry):
    plan, config = plan_for(registry)
    store = ScoreStore(tmp_path / "s.h5")
    first = rank(plan, config, OTHERS[:2], store)
    again = rank(plan, config, OTHERS[:2], store)
    assert again.computed == 0
    for name in first.scores:
        np.testing.assert_array_equal(first.scores[name], again.scores[name])
    overlap = rank(plan, config, OTHERS, store)
    assert overlap.computed == 1 * 2 * 2


def test_settings_in_the_key_recompute_others_do_not(tmp_path, registry):
    store = ScoreStore(tmp_path / "s.h5")
    plan, config = plan_for(registry)
    rank(plan, config, OTHERS[:1], store)
    plan2, config2 = plan_for(registry, options={**SMALL, "batch_size": 8})
    assert rank(plan2, config2, OTHERS[:1], store).computed == 2  # ntk, 2 repeats; regions unchanged
    plan3, config3 = plan_for(registry, seed=2)
    assert rank(plan3, config3, OTHERS[:1], store).computed == 4
    assert rank(plan, config, OTHERS[:1], store, workers=2).computed == 0  # workers are not in the key


def test_two_workers_equal_one_bit_for_bit(registry):
    plan, config = plan_for(registry)
    one = rank(plan, config, OTHERS, None, workers=1)
    two = rank(plan, config, OTHERS, None, workers=2)
    for name in one.scores:
        np.testing.assert_array_equal(one.scores[name], two.scores[name])


def test_shards_merge_to_the_unsharded_result(tmp_path, registry):
    plan, config = plan_for(registry)
    texts = ISOMORPHS + OTHERS
    whole = rank(plan, config, texts, ScoreStore(tmp_path / "whole.h5"))
    parts = [tmp_path / f"part{i}.h5" for i in range(2)]
    sizes = [rank(plan, config, texts, ScoreStore(part), shard=(i, 2)).unique for i, part in enumerate(parts)]
    assert sum(sizes) == whole.unique
    merge(tmp_path / "merged.h5", parts)
    merged = rank(plan, config, texts, ScoreStore(tmp_path / "merged.h5"))
    assert merged.computed == 0
    for name in whole.scores:
        np.testing.assert_array_equal(whole.scores[name], merged.scores[name])


def rank_command(store, out, n=400, batch=4):
    return [str(TENASKIT), "rank", "--sample", str(n), "--data", "synthetic", "--repeats", "1", "--batch-size", str(batch),
            "--store", str(store), "--out", str(out), "--workers", "1"]


def test_killed_writer_leaves_a_store_that_opens_and_resumes(tmp_path):
    store, out = tmp_path / "s.h5", tmp_path / "r.csv"
    n = 200  # about 20 s of work; commits every 0.5 s, so the kill lands mid-run after a commit
    env = dict(os.environ, TENASKIT_COMMIT_SECONDS="0.5")
    process = subprocess.Popen(rank_command(store, out, n, 24), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while not store.exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert store.exists() and not out.exists()
    kept = len(ScoreStore(store))
    assert 0 < kept < 2 * n
    with h5py.File(store, "r") as h5:
        assert len(h5["keys"]) == len(h5["values"])
    resumed = subprocess.run(rank_command(store, out, n, 24), capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr
    text = resumed.stdout.replace("\n", " ")
    unique = int(text.split(" distinct cells")[0].split()[-1])
    assert len(ScoreStore(store)) == 2 * unique  # two proxies, one repeat
    assert f"{2 * unique - kept} scores computed" in text


def test_two_concurrent_rank_commands_share_one_store(tmp_path):
    store = tmp_path / "s.h5"
    runs = [subprocess.Popen(rank_command(store, tmp_path / f"r{i}.csv", 150 + 50 * i), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True) for i in range(2)]
    for run in runs:
        assert run.wait(timeout=600) == 0, run.stderr.read()
    with open(tmp_path / "r1.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 200
    keys = ScoreStore(store).read()
    assert 400 <= len(keys) <= 700  # the two samples overlap; every score of both is present once
    again = tenaskit(*rank_command(store, tmp_path / "r2.csv", 200)[1:])
    assert "0 scores computed" in again.stdout.replace("\n", " ")


def test_rank_errors_are_one_line(tmp_path):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as h5:
        h5["x"] = [1]
    bad = tmp_path / "bad.txt"
    bad.write_text("|nor_conv_3x3~0|+|nope|\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    cases = [
        (["--sample", "3", "--store", tmp_path], "is a directory"),
        (["--sample", "3", "--store", foreign], "not a tenas-kit score store"),
        (["--archs", bad], "architecture 1: malformed"),
        (["--archs", empty], "no architectures to rank"),
        (["--archs", tmp_path / "missing.txt"], "does not exist"),
        ([], "exactly one of"),
        (["--sample", "3", "--shard", "2/2"], "0 <= i < N"),
    ]
    for args, expected in cases:
        result = tenaskit("rank", "--data", "synthetic", *args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and expected in lines[0], (args, result.stderr)


def test_correlate_reports_tau_rho_and_intervals(tmp_path):
    table = tmp_path / "bench.csv"
    table.write_text("arch,acc\n" + "".join(f"{a},{i}\n" for i, a in enumerate(OTHERS)))
    results = tmp_path / "r.csv"
    results.write_text("rank,arch,rank_sum,ntk\n" + "".join(f"{i},{a},{i},{10 - i}\n" for i, a in enumerate(OTHERS)))
    out = tenaskit("correlate", results, "--benchmark", table)
    assert out.returncode == 0, out.stderr
    assert "-rank_sum" in out.stdout and "-1.000" in out.stdout.replace("\n", " ")
