"""Run files as a storage format: every value read back is verified, a damaged file is refused in one line.

Damage is done at computed offsets (a chunk's byte offset from HDF5's own index, an attribute's text
found in the file's bytes), by truncation, by legitimate HDF5 writes that bypass the run's own
checksum, and by hostile datasets; ``show`` and ``export`` must then print no value at all.
"""

import json
import random
import shutil
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

import tenas_kit
from conftest import call
from tenas_kit import SearchConfig
from tenas_kit.errors import TenasError, TenasRuntimeError
from tenas_kit.runfile import FORMAT_VERSION, RunFile, partial_path, read
from tenas_kit.sealedfile import data_digest

SMALL = {"batch_size": 6, "region_samples": 64}


def config():
    return SearchConfig(data="synthetic", repeats=1, seed=5, options=dict(SMALL))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished run, written once; tests damage copies of it."""
    from tenas_kit import plugins

    plugins.reset()
    path = tmp_path_factory.mktemp("run") / "run.h5"
    tenas_kit.search(config(), out=path, workers=1)
    plugins.reset()
    return path, read(path)


@pytest.fixture
def copy(finished, tmp_path):
    target = tmp_path / "run.h5"
    shutil.copyfile(finished[0], target)
    return target


def same(a, b):
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    return type(a) is type(b) and a == b


def flip(path, offset, bit=0):
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)[0]
        handle.seek(offset)
        handle.write(bytes([byte ^ (1 << bit)]))


def chunk_offset(path, dataset):
    with h5py.File(path, "r") as h5:
        return h5[dataset].id.get_chunk_info(0).byte_offset


def refused_in_one_line(capsys, path, *command):
    """``tenaskit COMMAND PATH`` exits 1 with one error line naming the file, and prints nothing else."""
    code, out, err = call(capsys, *command, path)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("Error: ") and str(path) in lines[0], (code, err)
    assert out == "", out
    return lines[0]


def test_every_dataset_is_checksummed_and_every_text_fixed_length(finished):
    path, run = finished
    assert run["format_version"] == FORMAT_VERSION == 3
    with h5py.File(path, "r") as h5:
        assert len(h5.attrs["sha256"]) == 64
        for name in h5.attrs:
            assert h5py.check_vlen_dtype(h5.attrs.get_id(name).dtype) is None, name
        datasets = []
        h5.visititems(lambda name, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None)
        assert datasets and all(ds.fletcher32 and ds.chunks and len(ds.attrs["sha256"]) == 64 for ds in datasets)
        assert all(h5py.check_vlen_dtype(ds.dtype) is None and ds.dtype.kind != "O" for ds in datasets)


@pytest.mark.parametrize("dataset", ["rounds/000/proxies/ntk/values", "rounds/001/labels", "rounds/002/columns/removed",
                                     "final/proxies/regions/base", "rounds/000/keys", "rounds/002/mask_before"])
def test_a_flipped_byte_in_any_dataset_is_refused_by_read_show_and_export(copy, capsys, dataset):
    flip(copy, chunk_offset(copy, dataset) + 2, bit=3)
    with pytest.raises(TenasRuntimeError, match="is damaged .*fletcher32"):
        read(copy)
    assert "is damaged" in refused_in_one_line(capsys, copy, "show")
    refused_in_one_line(capsys, copy, "export")


def test_a_chunk_index_pointing_at_zeroed_space_is_refused(copy, capsys):
    """fletcher32 of zeros holds: a chunk index redirected to unused (zeroed) space would serve zeros."""
    dataset = "final/proxies/regions/base"
    with h5py.File(copy, "r") as h5:
        info = h5[dataset].id.get_chunk_info(0)
    content = bytearray(copy.read_bytes())
    address = info.byte_offset.to_bytes(8, "little")
    assert content.count(address) == 1  # the index entry
    zeros = content.index(b"\0" * 64, 4096)  # reserved space, far from the superblock
    at = content.index(address)
    content[at:at + 8] = zeros.to_bytes(8, "little")
    copy.write_bytes(bytes(content))
    with h5py.File(copy, "r") as h5:
        assert not h5[dataset][()].any()  # what HDF5 alone now reads, without an error
    with pytest.raises(TenasRuntimeError, match="fails its sha256 checksum"):
        read(copy)
    refused_in_one_line(capsys, copy, "show")


@pytest.mark.parametrize("text", [b'"seed": 5', b'"batch_size": 6', b"|+|"])
def test_a_flipped_byte_in_an_attribute_is_refused(copy, capsys, text):
    content = copy.read_bytes()
    assert content.count(text) >= 1
    flip(copy, content.index(text) + 3, bit=1)
    with pytest.raises(TenasRuntimeError, match="is damaged"):
        read(copy)
    refused_in_one_line(capsys, copy, "export")


@pytest.mark.parametrize("attribute, value", [("architecture", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"),
                                              ("config", None)])
def test_an_attribute_rewritten_behind_the_checksum_is_refused(copy, finished, capsys, attribute, value):
    """Written through HDF5, so its own checksums hold: only the run's sha256 tells."""
    if value is None:
        value = json.dumps({**finished[1]["config"], "seed": 6})
    with h5py.File(copy, "a") as h5:
        h5.attrs[attribute] = np.bytes_(value.encode())
    with pytest.raises(TenasRuntimeError, match="fail their sha256 checksum"):
        read(copy)
    refused_in_one_line(capsys, copy, "export")


@pytest.mark.parametrize("removed", ["rounds/002", "final"])
def test_a_finished_file_that_lacks_what_it_declares_is_refused_by_every_reader(copy, capsys, removed):
    """The counters are not under the sha256; a round or the result removed through HDF5 (its own checksums
    hold) left show, export, plot and report exiting 0 with fewer rounds."""
    with h5py.File(copy, "a") as h5:
        del h5[removed]
    expected = "declares 3 rounds done but holds 2" if removed.startswith("rounds") else "holds no 'final' group"
    with pytest.raises(TenasRuntimeError, match=expected):
        read(copy)
    for command in (["show"], ["export"], ["plot", "trajectory"], ["report"]):
        assert expected in refused_in_one_line(capsys, copy, *command), command
    assert sorted(p.name for p in copy.parent.iterdir()) == ["run.h5"]  # no figure, no page


def test_a_full_disk_at_a_round_keeps_the_rounds_before_it_and_the_same_search_resumes(finished, tmp_path,
                                                                                        monkeypatch):
    """The disk fills while round 2 is committed (reported at fsync, as with delayed allocation or NFS): the
    .partial must still hold round 1, readable, and the same search then finishes it to the same file."""
    import errno
    import os
    import stat

    from tenas_kit import plugins
    from tenas_kit.h5content import content, differences

    real, files = os.fsync, []

    def fsync(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):
            files.append(fd)
            if len(files) == 3:  # the new file, round 1, round 2
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    out = tmp_path / "full.h5"
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(TenasRuntimeError, match="No space left on device; its 1 finished round is kept there"):
        tenas_kit.search(config(), out=out, executor="serial")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.h5.partial"]
    with h5py.File(partial_path(out), "r") as h5:
        assert h5.attrs["rounds_done"] == 1 and list(h5["rounds"]) == ["000"]
    plugins.reset()
    tenas_kit.search(config(), out=out, executor="serial")
    assert differences(content(finished[0]), content(out)) == []


def test_sampled_bit_flips_are_refused_or_harmless(copy, finished):
    original = copy.read_bytes()
    rng = random.Random(17)
    refused = 0
    for offset in rng.sample(range(len(original)), 250):
        damaged = bytearray(original)
        damaged[offset] ^= 1 << rng.randrange(8)
        copy.write_bytes(bytes(damaged))
        try:
            found = read(copy)
        except TenasRuntimeError:
            refused += 1
            continue
        assert same(found, finished[1]), offset  # unused bytes only: never a different value
    assert refused > 25  # most of the file is space HDF5 reserves for its chunk indexes


@pytest.mark.parametrize("fraction", [0.02, 0.5, 0.9, 0.9999])
def test_a_truncated_run_file_is_refused(copy, capsys, fraction):
    content = copy.read_bytes()
    copy.write_bytes(content[: int(len(content) * fraction)])
    with pytest.raises(TenasRuntimeError) as info:
        read(copy)
    assert info.value.exit_code == 1 and str(copy) in str(info.value)
    refused_in_one_line(capsys, copy, "show")


def hostile(path, change):
    with h5py.File(path, "a", libver=("v110", "v110")) as h5:
        change(h5)


def replace(name, **spec):
    """A dataset swapped for another, with a valid digest where it has data: only its shape or type is wrong."""
    def change(h5):
        del h5[name]
        dataset = h5.create_dataset(name, **spec)
        if "data" in spec:
            dataset.attrs["sha256"] = np.bytes_(data_digest(dataset[()]).encode())
    return change


HOSTILE = {
    "labels-declared-1e8": (replace("rounds/000/labels", shape=(10 ** 8,), dtype="S40", chunks=(4096,), fletcher32=True),
                            "declares (100000000,) entries"),
    "values-vlen": (replace("rounds/000/proxies/ntk/values", shape=(1, 24), dtype=h5py.vlen_dtype(np.float64)), "not numbers"),
    "mask-reference": (replace("rounds/000/mask_after", shape=(3,), dtype=h5py.ref_dtype), "not numbers"),
    "values-short": (replace("rounds/000/proxies/ntk/values", data=np.zeros((1, 23)), chunks=(1, 23), fletcher32=True),
                     "not (1, 24)"),
    "column-short": (replace("rounds/001/columns/importance", data=np.zeros(17), chunks=(17,), fletcher32=True),
                     "17 entries for 18 candidates"),
    "values-unchecksummed": (replace("rounds/000/proxies/ntk/values", data=np.zeros((1, 24))), "has no checksum"),
    "labels-vlen": (replace("rounds/000/labels", data=["x"] * 24, dtype=h5py.string_dtype()), "not text"),
}

PROBE = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    from tenas_kit.errors import TenasError
    from tenas_kit.runfile import read
    out = {}
    for path in sys.argv[1:]:
        try:
            read(path)
            out[path] = ["read"]
        except TenasError as exc:
            out[path] = ["refused", exc.exit_code, str(exc)]
        except MemoryError:
            out[path] = ["memory"]
    print(json.dumps(out))
""")


def test_hostile_run_files_are_refused_before_anything_is_allocated(finished, tmp_path):
    paths = {}
    for name, (change, _) in HOSTILE.items():
        paths[name] = tmp_path / f"{name}.h5"
        shutil.copyfile(finished[0], paths[name])
        hostile(paths[name], change)
    done = subprocess.run([sys.executable, "-c", PROBE, *map(str, paths.values())], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    for name, path in paths.items():
        outcome = results[str(path)]
        assert outcome[:2] == ["refused", 1] and "is damaged" in outcome[2] and HOSTILE[name][1] in outcome[2], (name, outcome)


def write_old(path, run, version):
    """The run as tenas-kit wrote it before checksums: contiguous datasets, variable-length text."""
    text = h5py.string_dtype()
    with h5py.File(path, "w") as h5:
        for key in ("format", "data", "created", "architecture"):
            h5.attrs[key] = run[key]
        for key in ("config", "settings", "versions"):
            h5.attrs[key] = json.dumps(run[key])
        h5.attrs.update(format_version=version, rounds_done=len(run["rounds"]), complete=True, interrupted=False)
        for i, rnd in enumerate(run["rounds"]):
            group = h5.create_group(f"rounds/{i:03d}")
            group.attrs["seconds"] = rnd["seconds"]
            group["mask_after"] = rnd["mask_after"]
            group.create_dataset("labels", data=rnd["labels"], dtype=text)
            if version >= 2:
                group.create_dataset("pruned", data=rnd["pruned"], dtype=text)
            for name, proxy in rnd["proxies"].items():
                group[f"proxies/{name}/base"], group[f"proxies/{name}/values"] = proxy["base"], proxy["values"]
                group[f"proxies/{name}"].attrs["weight"] = proxy["weight"]
            for name, column in rnd["columns"].items():
                group[f"columns/{name}"] = column
        for name, base in run["final"].items():
            h5[f"final/proxies/{name}/base"] = base


@pytest.mark.parametrize("version", [1, 2])
def test_old_run_files_are_read_with_a_one_line_warning(finished, tmp_path, capsys, version):
    path = tmp_path / "old.h5"
    write_old(path, finished[1], version)
    capsys.readouterr()
    run = read(path)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and f"format version {version}" in lines[0] and "unverified" in lines[0], lines
    expected = {k: v for k, v in finished[1].items() if k != "sha256"}
    expected["format_version"] = version
    if version == 1:
        expected["rounds"] = [{**rnd, "pruned": None} for rnd in expected["rounds"]]
    for key in ("format_version", "rounds_done", "complete", "interrupted"):
        run[key], expected[key] = int(run[key]), int(expected[key])
    assert same(run, expected)


def test_a_damaged_interrupted_run_is_refused_when_resumed(finished, tmp_path):
    out = tmp_path / "again.h5"
    run = finished[1]
    for damage in (False, True):
        shutil.copyfile(finished[0], partial_path(out))
        if damage:
            flip(partial_path(out), chunk_offset(partial_path(out), "rounds/001/mask_after") + 1)
            with pytest.raises(TenasRuntimeError, match="is damaged .*delete it to start over"):
                RunFile.open(out, run["config"], run["settings"], run["data"])
        else:
            resumed = RunFile.open(out, run["config"], run["settings"], run["data"])
            assert resumed.rounds_done == 3 and resumed.last_mask().shape == run["rounds"][2]["mask_after"].shape
            resumed.close()


KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from tenas_kit.runfile import RunFile
    run = RunFile.open(sys.argv[1], {"seed": 5}, {"space": "nb201"}, "synthetic")
    run.h5.flush()
    os.kill(os.getpid(), signal.SIGKILL)  # the file still open for writing, as a kill -9 mid-run leaves it
""")


def test_a_partial_run_left_by_kill_9_can_be_read_and_resumed(tmp_path):
    """HDF5's 1.10 file format would mark the file open for writing until closed, and refuse it afterwards."""
    out = tmp_path / "killed.h5"
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr
    with h5py.File(partial_path(out), "r", locking=False) as h5:
        assert h5.attrs["rounds_done"] == 0
    resumed = RunFile.open(out, {"seed": 5}, {"space": "nb201"}, "synthetic")
    assert resumed.rounds_done == 0
    resumed.close()


def test_a_foreign_or_missing_file_keeps_its_usage_error(tmp_path):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as h5:
        h5["x"] = [1]
    with pytest.raises(TenasError, match="not a tenas-kit run file") as info:
        read(foreign)
    assert info.value.exit_code == 2
