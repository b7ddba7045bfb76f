"""Batch ranking through the HDF5 score store: dedup, caching, workers, shards, kills, errors."""

import dataclasses
import itertools
import os
import signal
import subprocess
import time

import h5py
import numpy as np

from conftest import TENASKIT, tenaskit
from tenas_kit import SearchConfig, lifecycle
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
    return None, config


def rank(_plan, config, texts, store, workers=1, shard=None):
    """A ranking through the run layer, as ``tenas_kit.rank`` does it, on ``workers`` processes."""
    config = dataclasses.replace(config, executor_options={"workers": workers})
    return lifecycle.Ranking(config, texts, store.path if store is not None else None, None, shard).run()


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
    n = 100  # about 10 s of work; commits every 0.5 s, so the kill lands mid-run after a commit
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


def archs_command(store, out, archs):
    return [str(TENASKIT), "rank", "--archs", str(archs), "--data", "synthetic", "--repeats", "1", "--batch-size", "4",
            "--store", str(store), "--out", str(out), "--workers", "1"]


def test_two_concurrent_rank_commands_share_one_store(tmp_path):
    # Two writers with overlapping lists: each has scores of its own and scores the other also writes.
    ops = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    cells = ["|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*choice)
             for choice in itertools.islice(itertools.product(ops[1:], repeat=6), 0, 4 ** 6, 41)][:90]
    lists = [tmp_path / "a.txt", tmp_path / "b.txt"]
    lists[0].write_text("\n".join(cells[:60]) + "\n")
    # b starts with its own cells, so both writers add scores of their own at the same time.
    lists[1].write_text("\n".join(cells[60:] + cells[30:60]) + "\n")
    # What each writer stores when it is alone: the exact key -> value map the shared store must hold;
    # two proxies and one repeat per distinct cell, so a store that drops scores fails here already.
    alone = []
    for i, archs in enumerate(lists):
        done = subprocess.run(archs_command(tmp_path / f"alone{i}.h5", tmp_path / f"alone{i}.csv", archs),
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        distinct = int(done.stdout.replace("\n", " ").split(" distinct cells")[0].split()[-1])
        alone.append(ScoreStore(tmp_path / f"alone{i}.h5").read())
        assert len(alone[i]) == 2 * distinct and distinct > 25
    both = set(alone[0]) & set(alone[1])
    only = [set(alone[0]) - both, set(alone[1]) - both]
    assert both and only[0] and only[1]
    # Frequent commits, so the two writers' read-copy-replace cycles interleave many times.
    env = dict(os.environ, TENASKIT_COMMIT_SECONDS="0.1")
    store = tmp_path / "s.h5"
    runs = [subprocess.Popen(archs_command(store, tmp_path / f"r{i}.csv", archs), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, env=env) for i, archs in enumerate(lists)]
    for run in runs:
        assert run.wait(timeout=600) == 0, run.stderr.read()
    shared = ScoreStore(store).read()
    assert set(shared) == set(alone[0]) | set(alone[1])  # no writer lost a score, nothing else was added
    assert shared == {**alone[0], **alone[1]}  # and each is the value computed alone
    order = [key for key, _ in ScoreStore(store).records()]  # commit order, across the store's files
    assert len(order) == len(shared)  # every score once
    # The writers did overlap: each added scores of its own before the other's last one.
    mine = [[i for i, key in enumerate(order) if key in only[w]] for w in range(2)]
    assert min(mine[0]) < max(mine[1]) and min(mine[1]) < max(mine[0]), "the two writers never overlapped"
    for i in range(2):
        assert (tmp_path / f"r{i}.csv").read_bytes() == (tmp_path / f"alone{i}.csv").read_bytes()


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


def table_rows(text):
    """A rich table printed by the CLI as {first cell: {column title: cell}}."""
    import re

    lines = [re.split("[│┃]", line)[1:-1] for line in text.splitlines() if re.search("[│┃]", line)]
    header = [cell.strip() for cell in lines[0]]
    return {cells[0].strip(): dict(zip(header, (c.strip() for c in cells))) for cells in lines[1:]}


# Five cells of different function (no two isomorphic), so the benchmark holds each under its own row.
CORRELATE = [
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_1x1~1|nor_conv_1x1~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
]


def test_correlate_orients_the_rank_sum_and_reports_known_tau_and_rho(tmp_path):
    # Accuracy rises 10..50 along CORRELATE; the benchmark lists the cells in another order, so a
    # join by position instead of by architecture would show.
    accuracy = [10, 20, 30, 40, 50]
    table = tmp_path / "bench.csv"
    table.write_text("arch,acc\n" + "".join(f"{CORRELATE[i]},{accuracy[i]}\n" for i in (3, 0, 4, 2, 1)))
    # rank_sum 5 4 3 1 2: a low sum is a good cell, so -rank_sum is -5 -4 -3 -1 -2 against accuracy:
    # one discordant pair of 10 (the last two), tau = (9 - 1) / 10 = +0.8; ranks 1 2 3 5 4, so
    # rho = 1 - 6 * 2 / (5 * 24) = +0.9. Taken on the sum itself, without the sign, both flip.
    # ntk 1 3 2 5 4, as recorded: two discordant pairs, tau = 0.6, rho = 1 - 6 * 4 / 120 = 0.8.
    # regions 5 4 3 2 1: every pair discordant, tau = rho = -1.
    rank_sum, ntk, regions = [5, 4, 3, 1, 2], [1, 3, 2, 5, 4], [5, 4, 3, 2, 1]
    results = tmp_path / "r.csv"
    results.write_text("rank,arch,rank_sum,ntk,regions\n" + "".join(
        f"{i},{a},{rank_sum[i]},{ntk[i]},{regions[i]}\n" for i, a in enumerate(CORRELATE)))
    out = tenaskit("correlate", results, "--benchmark", table)
    assert out.returncode == 0, out.stderr
    rows = table_rows(out.stdout)
    assert "rank_sum" not in rows  # only the oriented sum is shown, under its own name
    expected = {"-rank_sum": ("0.800", "0.900"), "ntk": ("0.600", "0.800"), "regions": ("-1.000", "-1.000")}
    assert {name: (rows[name]["kendall tau"], rows[name]["spearman rho"]) for name in expected} == expected
