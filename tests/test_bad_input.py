"""The bad-input battery: every command, fed wrong input, answers with one ``Error:`` line, exit 2
(usage) or 1 (runtime), and no traceback -- in-process through ``tenas_kit.cli.main`` (what the
console script calls) for every case, and through the real console script for a subset.
"""

import os
import pickle
import resource
import subprocess
import textwrap
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np
import pytest

from conftest import TENASKIT
from conftest import SCORER

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
TINY = ["--data", "synthetic", "--repeats", "1", "--batch-size", "2", "--workers", "1"]
TINY_NO_NTK = [a for a in TINY if a not in ("--batch-size", "2")]  # --batch-size is ntk's: refused without it

# A proxy whose network output is NaN, through conftest's scorer-plugin template.
NAN_PROXY = SCORER.format(name="nanout", body=textwrap.indent(textwrap.dedent("""
    import torch
    network = ctx.network("supernet")
    network.mask = mask
    with torch.no_grad():
        out = network(ctx.batch(2))
    out = out[-1] if isinstance(out, tuple) else out
    return float((out * float("nan")).sum())
"""), " " * 12))


# A preset whose weight makes no ranking (every rank sum inf), as a plugin file.
WILD_PRESET = textwrap.dedent("""
    from tenas_kit.hookspecs import hookimpl

    class Wild:
        name, description = "wild", "synflow at an infinite weight"
        proxies, combine, options, repeats = [("synflow", float("inf")), ("params", 1.0)], "rank_sum", {}, None

    @hookimpl
    def register_presets(register):
        register(Wild())
""")


class Evil:
    """Unpickling this runs a shell command: what a crafted data set could do to a plain pickle.load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def fake_run(path, config="{\"space\": \"nb201\"}", pad=0):
    """A minimal finished run file, as ``store.read`` expects it."""
    with h5py.File(path, "w") as h5:
        h5.attrs.update(format="tenas-kit run", format_version=1, config=config, settings="{}", versions="{}",
                        data="crafted", rounds_done=0, complete=True, architecture=BEST)
        h5.create_group("rounds")
        if pad:
            h5["padding"] = np.arange(pad, dtype=float)


def build(w):
    """Every file the cases refer to, under ``w``."""
    (w / "empty" / "cls").mkdir(parents=True)
    (w / "noimages").mkdir()
    (w / "noimages" / "notes.txt").write_text("no images here")
    (w / "badimage").mkdir()
    (w / "badimage" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    evil = w / "evil" / "cifar-10-batches-py"
    evil.mkdir(parents=True)
    (evil / "data_batch_1").write_bytes(pickle.dumps({"data": Evil(w / "pwned"), "labels": [0]}, protocol=2))
    (w / "in16").mkdir()
    whole = pickle.dumps({"data": np.zeros((4, 768), np.uint8), "labels": [1, 2, 3, 4]})
    (w / "in16" / "train_data_batch_1").write_bytes(whole[: len(whole) // 2])
    (w / "notes.h5").write_text("not hdf5")
    with h5py.File(w / "foreign.h5", "w") as h5:
        h5["x"] = [1, 2, 3]
    fake_run(w / "run.h5")
    fake_run(w / "big.h5", pad=20000)
    data = (w / "big.h5").read_bytes()
    (w / "truncated.h5").write_bytes(data[: len(data) // 2])
    # An attribute that would run code if anything evaluated it instead of parsing it as JSON.
    fake_run(w / "evalattr.h5", config=f"__import__('os').system('touch {w / 'pwned-attr'}')")
    fake_run(w / "interrupted.h5.partial")
    (w / "badarchs.txt").write_text("|nor_conv_3x3~0|+|nope|\n")
    (w / "undecodable.csv").write_bytes(b"rank,arch\n\xff\xfe\xfa\x00")
    (w / "bench.csv").write_text(f"arch,acc\n{BEST},94.0\n")
    (w / "ranking.csv").write_text(f"rank,arch,rank_sum,ntk\n1,{BEST},1,2\n")
    (w / "broken_plugin.py").write_text("def oops(:\n")
    (w / "nanout.py").write_text(NAN_PROXY)
    (w / "one.txt").write_text(BEST + "\n")
    (w / "wildpreset.py").write_text(WILD_PRESET)


# (id, arguments with {w} for the workspace, exit code, fragment of the error line)
CASES = [
    ("run-unknown-space", ["run", "--space", "nb20"], 2, "Did you mean 'nb201'"),
    ("run-misspelt-proxy", ["run", "--proxies", "ntk,regoins"], 2, "Did you mean 'regions'"),
    ("run-unknown-pruner", ["run", "--pruner", "tenass"], 2, "unknown pruner"),
    ("run-unknown-dataset", ["run", "--dataset", "cifar1O"], 2, "unknown dataset"),
    ("run-missing-data", ["run", "--data", "{w}/no/such/dir"], 2, "no data source understands"),
    ("run-empty-data-dir", ["run", "--data", "{w}/empty"], 2, "holds no images"),
    ("run-dir-without-images", ["run", "--data", "{w}/noimages"], 2, "holds no images"),
    ("run-batch-0", ["run", "--batch-size", "0"], 2, "--batch-size"),
    ("run-huge-batch", ["run", "--batch-size", "100000000"], 2, "--batch-size"),
    ("run-repeats-negative", ["run", "--repeats", "-1"], 2, "--repeats"),
    ("run-workers-absurd", ["run", "--workers", "1000000"], 2, "--workers"),
    ("run-seed-not-a-number", ["run", "--seed", "abc"], 2, "--seed"),
    ("run-weight-not-a-number", ["run", "--proxies", "ntk:abc"], 2, "is not a number"),
    ("run-resume-nothing", ["run", *TINY, "--out", "{w}/never.h5", "--resume"], 2, "nothing to resume"),
    ("run-no-plugins-with-plugin", ["--no-plugins", "run", "--plugin", "{w}/nanout.py"], 2, "contradicts --no-plugins"),
    ("run-malicious-cifar-pickle", ["run", "--data", "{w}/evil"], 1, "refused to load global"),
    ("run-truncated-imagenet16", ["run", "--data", "{w}/in16", "--dataset", "imagenet16-120"], 1, "cannot read ImageNet16"),
    ("run-corrupt-image", ["run", "--data", "{w}/badimage", *TINY[2:], "--out", "{w}/bad.h5"], 1, "cannot read image"),
    ("run-read-only-out", ["run", *TINY, "--out", "/proc/tenaskit-run.h5"], 1, "cannot write the run file"),
    ("run-nan-network", ["run", *TINY_NO_NTK, "--proxies", "nanout", "--plugin", "{w}/nanout.py", "--out", "{w}/nan.h5"], 1,
     "NaN in every repeat"),
    ("rank-sample-0", ["rank", "--sample", "0"], 2, "--sample"),
    ("rank-sample-too-many", ["rank", "--data", "synthetic", "--sample", "99999"], 2, "exceeds"),
    ("rank-malformed-arch", ["rank", "--data", "synthetic", "--archs", "{w}/badarchs.txt"], 2, "architecture 1: malformed"),
    ("rank-store-not-hdf5", ["rank", "--data", "synthetic", "--sample", "3", "--store", "{w}/notes.h5"], 1, "not an HDF5 file"),
    ("rank-full-out", ["rank", *TINY, "--archs", "{w}/one.txt", "--store", "{w}/s.h5", "--out", "/dev/full"], 1,
     "No space left"),
    ("rank-bad-shard", ["rank", "--data", "synthetic", "--sample", "3", "--shard", "x"], 2, "should read i/N"),
    ("rank-shard-out-of-range", ["rank", "--data", "synthetic", "--sample", "3", "--shard", "3/2"], 2,
     "--shard: got (3, 2)"),
    ("rank-weight-inf", ["rank", "--data", "synthetic", "--sample", "3", "--proxies", "synflow:inf,params"], 2,
     "weight inf of proxy 'synflow'"),
    ("rank-weight-huge", ["rank", "--data", "synthetic", "--sample", "3", "--proxies", "synflow:1e308,params"], 2,
     "weight 1e+308 of proxy 'synflow'"),
    ("run-weight-nan", ["run", "--proxies", "ntk:nan,regions"], 2, "weight nan of proxy 'ntk'"),
    ("rank-preset-weight-inf", ["rank", "--plugin", "{w}/wildpreset.py", "--preset", "wild", "--data", "synthetic",
                                "--sample", "3"], 2, "preset 'wild': weight inf of proxy 'synflow'"),
    ("rank-out-directory", ["rank", *TINY, "--archs", "{w}/one.txt", "--store", "{w}/unscored.h5", "--out", "{w}/empty"],
     2, "is a directory"),
    ("rank-out-under-a-file", ["rank", *TINY, "--archs", "{w}/one.txt", "--store", "{w}/unscored.h5", "--out",
                               "{w}/one.txt/r.csv"], 1, "is not a directory"),
    ("merge-missing-source", ["merge", "{w}/merged.h5", "{w}/missing.h5"], 2, "does not exist"),
    ("merge-foreign-source", ["merge", "{w}/merged.h5", "{w}/foreign.h5"], 2, "not a tenas-kit score store"),
    ("merge-not-hdf5-source", ["merge", "{w}/merged.h5", "{w}/notes.h5"], 1, "not an HDF5 file"),
    ("correlate-missing", ["correlate", "{w}/missing.csv", "--benchmark", "{w}/bench.csv"], 2, "does not exist"),
    ("correlate-undecodable", ["correlate", "{w}/undecodable.csv", "--benchmark", "{w}/bench.csv"], 2,
     "line 2: byte 0xff is not UTF-8"),
    ("correlate-resamples", ["correlate", "{w}/ranking.csv", "--benchmark", "{w}/bench.csv", "--resamples", "-1"], 2,
     "--resamples"),
    ("show-missing", ["show", "{w}/missing.h5"], 2, "no run file"),
    ("show-partial-only", ["show", "{w}/interrupted.h5"], 2, "--resume"),
    ("show-not-hdf5", ["show", "{w}/notes.h5"], 1, "not an HDF5 file"),
    ("show-foreign-hdf5", ["show", "{w}/foreign.h5"], 2, "not a tenas-kit run file"),
    ("show-truncated-hdf5", ["show", "{w}/truncated.h5"], 1, "not an HDF5 file"),
    ("show-evaluable-attribute", ["show", "{w}/evalattr.h5"], 1, "is damaged"),
    ("export-foreign-hdf5", ["export", "{w}/foreign.h5"], 2, "not a tenas-kit run file"),
    ("export-unknown-format", ["export", "{w}/run.h5", "--format", "yaml"], 2, "unknown export format"),
    ("inspect-malformed-nb201", ["inspect", "--arch", "|nor_conv_3x3~0|+|bad|"], 2, "malformed NAS-Bench-201"),
    ("inspect-malformed-genotype", ["inspect", "--space", "darts", "--genotype", "Genotype(normal=[('sep_conv_3x3', 9)]"],
     2, "malformed DARTS genotype"),
    ("plot-missing-run", ["plot", "trajectory", "{w}/missing.h5"], 2, "no run file"),
    ("plot-truncated-run", ["plot", "trajectory", "{w}/truncated.h5"], 1, "not an HDF5 file"),
    ("report-foreign-hdf5", ["report", "{w}/foreign.h5"], 2, "not a tenas-kit run file"),
    ("train-malformed-genotype", ["train", "--genotype", "Genotype(normal=[('sep_conv_3x3', 9)]", "--data", "{w}"], 2,
     "malformed DARTS genotype"),
    ("train-no-images", ["train", "--arch", BEST, "--data", "{w}/noimages", "--epochs", "1"], 2,
     "holds no training images"),
    ("plugins-syntax-error", ["plugins", "--plugin", "{w}/broken_plugin.py"], 1, "failed to import"),
    ("plugins-no-such-module", ["plugins", "--plugin", "tenaskit_no_such_module"], 2, "no plugin module"),
    ("unknown-command", ["frobnicate"], 2, "No such command"),
]


def _limit_file_size():
    # A disk that is full after 1 KiB: a score store's first commit writes files of 1 to 2 KiB each.
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))


# Only as processes whose files may not grow past 1 KiB: a full disk, without filling one.
FULL_DISK = {
    "run-full-disk": (["run", *TINY, "--out", "{w}/full.h5"], 1, "cannot write the run file"),
    "rank-full-disk-store": (["rank", *TINY, "--archs", "{w}/one.txt", "--store", "{w}/full-store.h5", "--out", "{w}/r.csv"],
                             1, "cannot write the score store"),
}
# Cases also run through the real console script (each process spends seconds importing PyTorch,
# so every command once, not every case); all of CASES run in-process through the same main().
CONSOLE = ["run-unknown-space", "run-malicious-cifar-pickle", "run-read-only-out", "rank-full-out", "correlate-undecodable",
           "show-truncated-hdf5", "export-unknown-format", "inspect-malformed-genotype", "plot-truncated-run",
           "report-foreign-hdf5", "plugins-syntax-error", "merge-foreign-source", "train-malformed-genotype"]


def invoke(args, w, limit=None):
    argv = [str(TENASKIT), *(a.replace("{w}", str(w)) for a in args)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, preexec_fn=limit,
                          env=dict(os.environ, COLUMNS="200"), cwd=w)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    w = tmp_path_factory.mktemp("battery")
    build(w)
    return w


@pytest.fixture(scope="module")
def console(workspace):
    """Results of the console-script cases, run concurrently (3 at a time)."""
    args = {name: (a, None) for name, a, _, _ in CASES if name in CONSOLE}
    args.update({name: (a, _limit_file_size) for name, (a, _, _) in FULL_DISK.items()})
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = pool.map(lambda item: invoke(item[0], workspace, item[1]), args.values())
        return dict(zip(args, results))


def in_process(args, w, capsys, monkeypatch):
    from tenas_kit import plugins
    from tenas_kit.cli import main

    monkeypatch.chdir(w)
    plugins.reset()
    try:
        with pytest.raises(SystemExit) as exit_info:
            main([a.replace("{w}", str(w)) for a in args])
    finally:
        os.environ.pop(plugins.NO_PLUGINS, None)  # --no-plugins sets it for the process and its workers
        plugins.reset()
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, exit_info.value.code, captured.out, captured.err)


def error_line(result):
    # A warning about what was read (an old, unchecksummed file) is its own line; the error is still one line.
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("warning: ")]
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    return lines[0]


def check(result, code, fragment):
    line = error_line(result)
    assert result.returncode == code, (result.returncode, line)
    assert fragment in line


@pytest.mark.parametrize("name, args, code, fragment", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_one_error_line_with_its_exit_code(workspace, capsys, monkeypatch, name, args, code, fragment):
    check(in_process(args, workspace, capsys, monkeypatch), code, fragment)


CONSOLE_CASES = [(name, code, fragment) for name, _, code, fragment in CASES if name in CONSOLE]
CONSOLE_CASES += [(name, code, fragment) for name, (_, code, fragment) in FULL_DISK.items()]


@pytest.mark.parametrize("name, code, fragment", CONSOLE_CASES, ids=[case[0] for case in CONSOLE_CASES])
def test_console_script_bad_input_is_one_error_line(console, name, code, fragment):
    check(console[name], code, fragment)


def command_of(args):
    return args[args[0] == "--no-plugins"]


def test_the_battery_covers_every_command_the_cli_has():
    # The commands come from the CLI itself, not from a list kept next to the cases: a command added
    # without a bad-input case fails here (merge once did).
    from tenas_kit.cli import cli

    commands = set(cli.commands)
    assert {"run", "rank", "correlate", "merge", "show", "export", "inspect", "plot", "report", "plugins"} <= commands
    assert commands <= {command_of(args) for _, args, _, _ in CASES}
    # ...and each also once through the real console script.
    through_console = {command_of(args) for name, args, _, _ in CASES if name in CONSOLE}
    assert commands <= through_console | {command_of(args) for args, _, _ in FULL_DISK.values()}
    # A repeated id or a misspelt CONSOLE name would drop a case silently.
    names = [case[0] for case in CASES] + list(FULL_DISK)
    assert len(names) == len(set(names)) and set(CONSOLE) <= set(names)


def test_rank_refuses_its_out_path_before_scoring(tmp_path, capsys, monkeypatch):
    (tmp_path / "results").mkdir()
    (tmp_path / "one.txt").write_text(BEST + "\n")
    for out, code, fragment in (("results", 2, "is a directory"), ("one.txt/r.csv", 1, "is not a directory")):
        result = in_process(["rank", *TINY, "--archs", "one.txt", "--store", "s.h5", "--out", out], tmp_path, capsys,
                            monkeypatch)
        assert result.returncode == code and fragment in error_line(result)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["one.txt", "results"]  # no store, nothing scored


def test_a_bad_environment_variable_is_named_in_one_line(tmp_path):
    (tmp_path / "one.txt").write_text(BEST + "\n")
    args = [str(TENASKIT), "rank", *TINY, "--archs", "one.txt", "--store", "s.h5", "--out", "r.csv"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env=dict(os.environ, TENASKIT_COMMIT_SECONDS="abc"))
    assert result.returncode == 2
    assert "TENASKIT_COMMIT_SECONDS='abc' is not a number of seconds" in error_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.txt"]


def test_no_crafted_file_ran_code(workspace, console):
    w = workspace
    assert "refused to load global 'posix.system'" in console["run-malicious-cifar-pickle"].stderr
    assert not (w / "pwned").exists() and not (w / "pwned-attr").exists()


def test_debug_adds_the_traceback(tmp_path):
    result = invoke(["--debug", "show", "{w}/missing.h5"], tmp_path)
    assert result.returncode == 2
    assert "Traceback" in result.stderr and result.stderr.strip().splitlines()[-1].startswith("Error: no run file")


def test_an_unexpected_exception_is_one_line_with_a_hint(capsys, monkeypatch):
    from tenas_kit import cli

    def explode(*args, **kwargs):
        raise ZeroDivisionError("a bug\nover two lines")

    monkeypatch.setattr(cli, "_register_plugin_commands", explode)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["plugins"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert err.strip() == ("Error: unexpected ZeroDivisionError: a bug over two lines "
                           "(rerun with --debug for the traceback, and report it if it looks like a bug)")
