"""The score store as a storage engine: checksums, validation, crash safety, concurrency, old stores.

Damage is done at computed offsets (a chunk's byte offset from HDF5's own index), writers are
killed with SIGKILL at random and at chosen moments from the test, and every check compares
exact key -> value maps: a store may lose the last commit, never serve a wrong score.
"""

import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import tenas_kit
from tenas_kit import SearchConfig, scorestore
from tenas_kit.errors import TenasError, TenasRuntimeError
from tenas_kit.scorestore import FANOUT, ScoreStore, merge

PYTHON = sys.executable


def key(*parts):
    return hashlib.sha1(repr(parts).encode()).hexdigest()


def commit(i, size=5):
    """Commit ``i`` of a test writer: ``size`` scores whose values say which commit they belong to."""
    return {key(i, j): i + j / 1000 for j in range(size)}


def filled(path, commits, size=5):
    store = ScoreStore(path)
    expected = {}
    for i in range(commits):
        store.add(commit(i, size))
        expected.update(commit(i, size))
    return store, expected


def segments(path):
    folder = Path(str(path) + ".segments")
    return sorted(folder.iterdir()) if folder.is_dir() else []


def temps(path):
    path = Path(path)
    return [p for p in list(path.parent.iterdir()) + segments(path) if p.name.endswith(".tmp")]


def flip(path, offset, bit=0):
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)[0]
        handle.seek(offset)
        handle.write(bytes([byte ^ (1 << bit)]))


def chunk_offset(path, dataset, index=0):
    with h5py.File(path, "r") as h5:
        return h5[dataset].id.get_chunk_info(index).byte_offset


def warnings_of(captured):
    return [line for line in captured.err.splitlines() if line.strip()]


def dead_pid():
    child = subprocess.Popen([PYTHON, "-c", "pass"])
    child.wait()
    return child.pid


# -- what a commit costs ------------------------------------------------------------------------

def test_a_commit_writes_one_new_file_and_touches_no_other(tmp_path):
    path = tmp_path / "s.h5"
    store, expected = filled(path, FANOUT - 2, size=50)
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in [path, *segments(path)]}
    store.add(commit(99, 7))
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in [path, *segments(path)]}
    new = set(after) - set(before)
    assert len(new) == 1 and all(after[p] == before[p] for p in before)  # the root was not rewritten
    (segment,) = new
    with h5py.File(segment, "r") as h5:
        assert len(h5["keys"]) == 7 and h5["values"].fletcher32
    assert ScoreStore(path).read() == {**expected, **commit(99, 7)}


def test_merges_keep_every_score_once_in_commit_order_and_few_files(tmp_path):
    path = tmp_path / "s.h5"
    store, expected = filled(path, 150, size=3)
    assert len(segments(path)) <= (FANOUT - 1) * 3  # levels 0, 1 and 2 at most, for 150 commits
    again = ScoreStore(path)
    assert again.read() == expected and len(again) == len(expected)
    records = again.records()
    assert [k for k, _ in records] == list(expected)  # commit order, every score once
    assert store.add({**commit(3, 3), **commit(150, 3)}) == 3  # commit 3 is stored: only commit 150 is new
    assert len(ScoreStore(path)) == len(expected) + 3


# -- checksums ----------------------------------------------------------------------------------

def test_a_flipped_byte_in_a_values_chunk_is_reported_in_one_line_and_recomputed(tmp_path, capsys):
    path = tmp_path / "s.h5"
    _, expected = filled(path, 3)
    damaged = segments(path)[1]  # commit 1
    flip(damaged, chunk_offset(damaged, "values") + 3)
    capsys.readouterr()
    store = ScoreStore(path)
    found = store.read()
    lines = warnings_of(capsys.readouterr())
    assert len(lines) == 1 and "checksum failed for" in lines[0] and damaged.name in lines[0], lines
    assert found == {k: v for k, v in expected.items() if k not in commit(1)}  # never a wrong value
    # The ranking recomputes the missing scores and commits them; the damaged file is rewritten without them.
    assert store.add(commit(1)) == 5
    assert ScoreStore(path).read() == expected
    assert warnings_of(capsys.readouterr()) == []


def test_a_zeroed_chunk_whose_fletcher32_holds_is_caught(tmp_path, capsys):
    """A block that comes back as zeros (data and checksum alike) passes fletcher32, whose sum of zeros is
    zero; the chunk's sha256, kept beside the data, does not."""
    path = tmp_path / "s.h5"
    _, expected = filled(path, 2)
    damaged = segments(path)[0]
    with h5py.File(damaged, "r") as h5:
        info = h5["values"].id.get_chunk_info(0)
    content = bytearray(damaged.read_bytes())
    content[info.byte_offset:info.byte_offset + info.size] = bytes(info.size)
    damaged.write_bytes(bytes(content))
    with h5py.File(damaged, "r") as h5:
        assert not h5["values"][()].any()  # what HDF5 alone reads, without an error
    capsys.readouterr()
    assert ScoreStore(path, writable=False).read() == commit(1)
    assert len(warnings_of(capsys.readouterr())) == 1


def test_a_flipped_byte_in_the_root_keys_is_caught_after_a_merge_folded_everything(tmp_path, capsys):
    path = tmp_path / "s.h5"
    _, expected = filled(path, 3)
    assert merge(tmp_path / "m.h5", [path]) == len(expected)
    target = tmp_path / "m.h5"
    assert segments(target) == []  # folded into the root: one file
    flip(target, chunk_offset(target, "keys") + 41, bit=5)
    capsys.readouterr()
    assert ScoreStore(target).read() == {}
    assert len(warnings_of(capsys.readouterr())) == 1


def test_every_single_bit_flip_is_refused_or_harmless(tmp_path, capsys):
    """A whole segment file, every byte: HDF5's metadata checksums and fletcher32 leave nothing unverified."""
    path = tmp_path / "s.h5"
    _, expected = filled(path, 1, size=3)
    (segment,) = segments(path)
    original = segment.read_bytes()
    outcomes = {"refused": 0, "same": 0}
    for offset in range(0, len(original)):
        damaged = bytearray(original)
        damaged[offset] ^= 1 << (offset % 8)
        segment.write_bytes(bytes(damaged))
        found = ScoreStore(path, writable=False).read()
        assert found in (expected, {}), offset  # all of it, or none of it: never a changed score
        outcomes["same" if found == expected else "refused"] += 1
    capsys.readouterr()
    assert outcomes["refused"] > 0.9 * len(original), outcomes


# -- validation before allocation ---------------------------------------------------------------

def hostile_root(path, version, build):
    with h5py.File(path, "w") as h5:
        h5.attrs["format"] = "tenas-kit scores"
        if version == 2:
            h5.attrs.update(format_version=2, store_id="0" * 32, folded_through=0)
        build(h5)


def declared_huge(h5):
    for name, dtype in (("keys", "S40"), ("values", "f8")):
        h5.create_dataset(name, shape=(10 ** 8,), dtype=dtype, chunks=(4096,), fletcher32=True)


def mismatched(h5):
    h5.create_dataset("keys", data=np.array([key(i).encode() for i in range(10)], dtype="S40"), chunks=(10,), fletcher32=True)
    h5.create_dataset("values", data=np.arange(5.0), chunks=(5,), fletcher32=True)


def typed(keys_dtype, values_dtype):
    def build(h5):
        h5.create_dataset("keys", shape=(3,), dtype=keys_dtype)
        h5.create_dataset("values", shape=(3,), dtype=values_dtype)
    return build


HOSTILE = {
    "declared-1e8": (declared_huge, "declares 100000000 scores"),
    "mismatched-lengths": (mismatched, "10 keys but 5 values"),
    "vlen-keys": (typed(h5py.string_dtype(), "f8"), "keys of type variable-length"),
    "reference-values": (typed("S40", h5py.ref_dtype), "values of type reference"),
    "vlen-values": (typed("S40", h5py.vlen_dtype(np.float64)), "values of type variable-length"),
    "short-keys": (typed("S20", "f8"), "not 40-byte strings"),
}

# Opens each store and reads it under a 3 GiB address-space limit: a store that made the reader
# allocate what it declares would fail with MemoryError here instead of taking the machine's memory.
PROBE = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    from tenas_kit.errors import TenasError
    from tenas_kit.scorestore import ScoreStore
    out = {}
    for path in sys.argv[1:]:
        try:
            out[path] = ["read", len(ScoreStore(path).read())]
        except TenasError as exc:
            out[path] = ["refused", exc.exit_code, str(exc)]
        except MemoryError:
            out[path] = ["memory"]
    print(json.dumps(out))
""")


def test_hostile_stores_are_refused_at_open_before_anything_is_allocated(tmp_path):
    paths = {}
    for name, (build, _) in HOSTILE.items():
        for version in (1, 2):
            paths[name, version] = tmp_path / f"{name}-v{version}.h5"
            hostile_root(paths[name, version], version, build)
    started = time.perf_counter()
    done = subprocess.run([PYTHON, "-c", PROBE, *map(str, paths.values())], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    for (name, version), path in paths.items():
        outcome = results[str(path)]
        assert outcome[:2] == ["refused", 1] and "is damaged" in outcome[2] and HOSTILE[name][1] in outcome[2], (name, version, outcome)
    assert time.perf_counter() - started < 60


def test_a_hostile_store_stops_a_ranking_before_any_scoring(tmp_path, registry, monkeypatch):
    from tenas_kit import lifecycle

    path = tmp_path / "s.h5"
    hostile_root(path, 2, declared_huge)
    monkeypatch.setattr(lifecycle, "execute", lambda *a, **k: pytest.fail("scoring started"))
    config = SearchConfig(data="synthetic", repeats=1, seed=5, options={"batch_size": 6, "region_samples": 64})
    with pytest.raises(TenasRuntimeError, match="is damaged .*declares 100000000 scores"):
        tenas_kit.rank(config, archs=[CELL], store=path, out=tmp_path / "r.csv", executor="serial")
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.parametrize("name", ["declared-1e8", "mismatched-lengths", "vlen-keys"])
def test_a_hostile_segment_is_set_aside_by_a_writer_and_left_out_by_a_reader(tmp_path, capsys, name):
    path = tmp_path / "s.h5"
    _, expected = filled(path, 2)
    bad = Path(str(path) + ".segments") / "L00-000000000003-000000000003.h5"
    with h5py.File(bad, "w") as h5:
        h5.attrs.update(format="tenas-kit scores segment", format_version=2, level=0, lo=3, hi=3,
                        members=np.array([], dtype="S1"))
        with h5py.File(path, "r") as root:
            h5.attrs["store_id"] = root.attrs["store_id"]
        HOSTILE[name][0](h5)
    capsys.readouterr()
    assert ScoreStore(path, writable=False).read() == expected
    lines = warnings_of(capsys.readouterr())
    assert len(lines) == 1 and "left out" in lines[0] and HOSTILE[name][1] in lines[0], lines
    assert ScoreStore(path).read() == expected
    lines = warnings_of(capsys.readouterr())
    assert len(lines) == 1 and "set aside" in lines[0], lines
    assert not bad.exists() and Path(str(bad) + ".damaged").exists()
    assert ScoreStore(path).read() == expected and warnings_of(capsys.readouterr()) == []


def test_truncated_files(tmp_path, capsys):
    path = tmp_path / "s.h5"
    _, expected = filled(path, 3)
    last = segments(path)[-1]
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    capsys.readouterr()
    assert ScoreStore(path).read() == {k: v for k, v in expected.items() if k not in commit(2)}
    assert len(warnings_of(capsys.readouterr())) == 1
    path.write_bytes(path.read_bytes()[:600])
    with pytest.raises(TenasRuntimeError, match="is damaged"):
        ScoreStore(path)


def test_foreign_and_newer_stores_are_refused(tmp_path):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as h5:
        h5["x"] = [1]
    with pytest.raises(TenasError, match="not a tenas-kit score store") as info:
        ScoreStore(foreign)
    assert info.value.exit_code == 2
    newer = tmp_path / "newer.h5"
    hostile_root(newer, 2, lambda h5: None)
    with h5py.File(newer, "a") as h5:
        h5.attrs["format_version"] = 9
    with pytest.raises(TenasRuntimeError, match="format version 9"):
        ScoreStore(newer)
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(TenasRuntimeError, match="not an HDF5 file"):
        ScoreStore(tmp_path / "text.h5")


# -- crash safety -------------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import hashlib, os, pathlib, sys, time
    from tenas_kit.scorestore import ScoreStore

    path, first, size, hang = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

    def key(*parts):
        return hashlib.sha1(repr(parts).encode()).hexdigest()

    done = 0
    replace, unlink = os.replace, pathlib.Path.unlink

    def hang_before_rename(source, target):  # mid-commit: the segment is written, not yet renamed
        if hang == "rename" and done >= 3 and str(target).endswith(".h5") and ".segments" in str(target):
            print("HANG", source, flush=True)
            time.sleep(600)
        replace(source, target)

    def hang_in_merge(self, *args, **kwargs):  # mid-merge: the merged segment is in place, its members not removed
        if hang == "merge" and self.name.startswith("L00-"):
            print("HANG", self, flush=True)
            time.sleep(600)
        unlink(self, *args, **kwargs)

    os.replace, pathlib.Path.unlink = hang_before_rename, hang_in_merge
    store = ScoreStore(path)
    for i in range(first, 10 ** 6):
        store.add({key(i, j): i + j / 1000 for j in range(size)})
        done += 1
        print("COMMITTED", i, flush=True)
""")


def start_writer(path, first=0, size=5, hang="none"):
    return subprocess.Popen([PYTHON, "-c", WRITER, str(path), str(first), str(size), hang],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def committed_prefix(path, size):
    """How many commits the store holds; fails unless they are exactly commits 0..n-1, each whole and exact."""
    found = ScoreStore(path).read()
    n = 0
    while key(n, 0) in found:
        n += 1
    assert found == {k: v for i in range(n) for k, v in commit(i, size).items()}, "not a prefix of whole commits"
    return n


def test_kill_9_at_random_moments_loses_at_most_the_last_commit(tmp_path):
    path, size, rng = tmp_path / "s.h5", 200, random.Random(16)
    held = 0
    for attempt in range(6):
        writer = start_writer(path, held, size)
        assert writer.stdout.readline().startswith("COMMITTED"), writer.stderr.read()
        time.sleep(rng.uniform(0.0, 0.4))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        now = committed_prefix(path, size)  # opens the store for writing: the dead writer's temp file goes
        assert now >= held + 1  # nothing committed before is lost
        assert temps(path) == []
        held = now
    assert len(segments(path)) < 4 * FANOUT


def test_kill_9_between_writing_and_renaming_a_segment(tmp_path):
    path = tmp_path / "s.h5"
    writer = start_writer(path, hang="rename")
    line = writer.stdout.readline()
    assert line.startswith("COMMITTED"), writer.stderr.read()
    while not line.startswith("HANG"):
        line = writer.stdout.readline()
    temp = Path(line.split()[1])
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert temp.exists() and temps(path) == [temp]  # what a killed commit leaves
    assert ScoreStore(path, writable=False).read() and temp.exists()  # a reader removes nothing
    assert committed_prefix(path, 5) == 3  # the commit in flight is lost, the three before it are kept
    assert not temp.exists() and temps(path) == []


def test_kill_9_in_a_merge_between_renaming_the_merged_segment_and_removing_its_members(tmp_path):
    path = tmp_path / "s.h5"
    writer = start_writer(path, hang="merge")
    line = writer.stdout.readline()
    while not line.startswith("HANG"):
        assert line, writer.stderr.read()
        line = writer.stdout.readline()
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert len([p for p in segments(path) if p.name.startswith("L00-")]) == FANOUT  # members still there
    reader = ScoreStore(path, writable=False)
    assert len(reader.records()) == len(reader.read()) == FANOUT * 5  # read once, not twice
    assert committed_prefix(path, 5) == FANOUT
    assert [p.name[:3] for p in segments(path)] == ["L01"]  # the writable open removed the merged members


def test_a_temp_file_is_removed_on_every_way_out_of_a_commit(tmp_path, monkeypatch):
    path = tmp_path / "s.h5"
    store, expected = filled(path, 2)

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(scorestore.os, "fsync", full_disk)
    with pytest.raises(TenasRuntimeError, match="cannot write the score store .*No space left"):
        store.add(commit(7))
    assert temps(path) == []

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(scorestore.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.add(commit(8))
    assert temps(path) == []
    monkeypatch.undo()
    assert ScoreStore(path).read() == expected


def test_stale_temp_files_of_dead_writers_go_when_the_store_is_opened_for_writing(tmp_path):
    path = tmp_path / "s.h5"
    filled(path, 1)
    folder = Path(str(path) + ".segments")
    dead, alive = dead_pid(), os.getpid()
    stale = [tmp_path / f".s.h5.{dead}.tmp",  # format 1 named them so
             tmp_path / f".s.h5.{scorestore.HOST}.{dead}.tmp",
             folder / f".L00-000000000009-000000000009.h5.{scorestore.HOST}.{dead}.tmp"]
    kept = [tmp_path / f".s.h5.{scorestore.HOST}.{alive}.tmp",  # a live writer's commit in progress
            folder / f".L00-000000000009-000000000009.h5.otherhost.{dead}.tmp"]  # another machine's pid
    for p in stale + kept:
        p.write_bytes(b"x" * 100)
    ScoreStore(path, writable=False).read()
    assert all(p.exists() for p in stale + kept)
    ScoreStore(path)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)


# -- concurrency --------------------------------------------------------------------------------

CONCURRENT = textwrap.dedent("""
    import hashlib, sys
    from tenas_kit.scorestore import ScoreStore

    def key(*parts):
        return hashlib.sha1(repr(parts).encode()).hexdigest()

    path, me = sys.argv[1], int(sys.argv[2])
    store = ScoreStore(path)
    store.read()
    for i in range(40):
        own = {key("own", me, i, j): me * 1000 + i + j / 10 for j in range(4)}
        shared = {key("shared", i, j): i + j / 10 for j in range(3)}
        store.add({**own, **shared})
""")


def test_concurrent_writers_each_keep_their_exact_scores_once(tmp_path):
    path = tmp_path / "s.h5"
    writers = [subprocess.Popen([PYTHON, "-c", CONCURRENT, str(path), str(me)], stderr=subprocess.PIPE, text=True)
               for me in range(3)]
    for writer in writers:
        assert writer.wait(timeout=300) == 0, writer.stderr.read()
    expected = {key("shared", i, j): i + j / 10 for i in range(40) for j in range(3)}
    for me in range(3):
        expected.update({key("own", me, i, j): me * 1000 + i + j / 10 for i in range(40) for j in range(4)})
    store = ScoreStore(path)
    assert store.read() == expected
    assert len(store.records()) == len(expected)  # a score another writer committed is not committed again


def test_a_reader_racing_a_merge_sees_every_committed_score(tmp_path):
    """The reader lists the segments, then a merge removes them before it opens them: it must list
    again and find the merged segment, not return the store without them."""
    path = tmp_path / "s.h5"
    writer, expected = filled(path, FANOUT - 1)
    reader = ScoreStore(path, writable=False)
    listed = reader._names

    def list_then_merge():
        names = listed()
        if not getattr(list_then_merge, "done", False):
            list_then_merge.done = True
            writer.add(commit(FANOUT - 1))  # the FANOUT-th segment: a merge removes every listed one
        return names

    reader._names = list_then_merge
    assert reader.read() == {**expected, **commit(FANOUT - 1)}


# -- old stores and merge -----------------------------------------------------------------------

def old_store(path, items):
    """A store as tenas-kit wrote it before checksums (format 1): one file, no format_version."""
    keys = np.array(list(items), dtype="S40")
    with h5py.File(path, "w") as h5:
        h5.attrs["format"] = "tenas-kit scores"
        h5.create_dataset("keys", data=keys, maxshape=(None,), chunks=(4096,))
        h5.create_dataset("values", data=np.array(list(items.values()), dtype=np.float64), maxshape=(None,), chunks=(4096,))


def test_an_old_store_is_read_with_a_warning_and_upgraded_when_opened_for_writing(tmp_path, capsys):
    path = tmp_path / "old.h5"
    items = {**commit(0), **commit(1)}
    old_store(path, items)
    original = path.read_bytes()
    capsys.readouterr()
    assert ScoreStore(path, writable=False).read() == items
    lines = warnings_of(capsys.readouterr())
    assert len(lines) == 1 and "no checksums" in lines[0]
    assert path.read_bytes() == original  # a reader changes nothing
    store = ScoreStore(path)
    lines = warnings_of(capsys.readouterr())
    assert len(lines) == 1 and "upgraded" in lines[0] and "10 scores" in lines[0], lines
    with h5py.File(path, "r") as h5:
        assert h5.attrs["format_version"] == 2 and h5["values"].fletcher32
    assert store.read() == items and warnings_of(capsys.readouterr()) == []
    store.add(commit(2))
    assert ScoreStore(path).read() == {**items, **commit(2)}


def test_merge_validates_every_source_first_and_leaves_one_file(tmp_path):
    a, _ = filled(tmp_path / "a.h5", 3)
    b = ScoreStore(tmp_path / "b.h5")
    b.add({**commit(2), **commit(5)})
    assert merge(tmp_path / "m.h5", [a.path, b.path]) == 20
    assert ScoreStore(tmp_path / "m.h5").read() == {**a.read(), **commit(5)}
    assert segments(tmp_path / "m.h5") == []
    hostile_root(tmp_path / "bad.h5", 2, mismatched)
    with pytest.raises(TenasRuntimeError, match="10 keys but 5 values"):
        merge(tmp_path / "n.h5", [a.path, tmp_path / "bad.h5"])
    assert not (tmp_path / "n.h5").exists()


def test_a_deleted_root_starts_a_new_store(tmp_path):
    path = tmp_path / "s.h5"
    filled(path, 3)
    old = {p.name: p.read_bytes() for p in segments(path)}
    path.unlink()  # what a user does to start over; the segments stay behind
    store = ScoreStore(path)
    assert store.read() == {}
    store.add(commit(7))
    assert len(segments(path)) == 1  # the first commit of the new store removed the old one's
    for name, content in old.items():  # and were they back, they would belong to another store
        if not (Path(str(path) + ".segments") / name).exists():
            (Path(str(path) + ".segments") / name).write_bytes(content)
    assert len(segments(path)) == 3
    assert ScoreStore(path, writable=False).read() == commit(7)
    assert ScoreStore(path).read() == commit(7) and len(segments(path)) == 1


# -- through a ranking --------------------------------------------------------------------------

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
CELLS = [CELL, "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"]


def test_a_ranking_recomputes_a_damaged_score_and_gives_the_same_result(tmp_path, registry, capsys, monkeypatch):
    from tenas_kit import ranker

    monkeypatch.setattr(ranker, "COMMIT_SECONDS", 1e9)  # one commit at the end: one segment to damage
    config = SearchConfig(data="synthetic", repeats=1, seed=5, options={"batch_size": 6, "region_samples": 64})
    path = tmp_path / "s.h5"
    first = tenas_kit.rank(config, archs=CELLS, store=path, out=tmp_path / "a.csv", executor="serial")
    stored = ScoreStore(path).read()
    (segment,) = segments(path)
    flip(segment, chunk_offset(segment, "values") + 5)
    capsys.readouterr()
    again = tenas_kit.rank(config, archs=CELLS, store=path, out=tmp_path / "b.csv", executor="serial")
    lines = warnings_of(capsys.readouterr())
    assert len(lines) == 1 and lines[0].startswith("warning: score store") and "checksum failed for" in lines[0]
    assert first.computed == again.computed == len(stored)  # the damaged chunk held every score: all recomputed
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert ScoreStore(path).read() == stored
