"""Every bad input gets one clear line on stderr, exit code 2 (usage) or 1 (runtime), no traceback, nothing half-written."""

import h5py
import pytest

from conftest import call, tenaskit

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def one_error_line(err):
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: ") and "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    "args,expected",
    [
        (["run", "--space", "nb20"], "Did you mean 'nb201'"),
        (["run", "--proxies", "ntk,regoins"], "Did you mean 'regions'"),
        (["run", "--pruner", "tenass"], "Did you mean 'tenas'"),
        (["run", "--dataset", "cifar1O"], "unknown dataset"),
        (["run", "--data", "/no/such/dir"], "no data source understands"),
        (["run", "--seed", "-1"], "-1 is not in the range"),
        (["run", "--repeats", "0"], "0 is not in the range"),
        (["run", "--batch-size", "1"], "1 is not in the range"),
        (["run", "--proxies", "ntk:abc"], "is not a number"),
        (["run", "--proxies", "ntk:-1"], "must be positive"),
        (["run", "--proxies", ","], "--proxies is empty"),
        (["run", "--device", "tpu"], "'tpu' is not one of"),
        (["run", "--data", "synthetic", "--benchmark", "/no/such.csv"], "does not exist"),
        (["inspect", "--arch", "|nor_conv_3x3~0|+|bad|"], "malformed NAS-Bench-201 architecture"),
        (["show", "/no/such/run.h5"], "no run file"),
        (["frobnicate"], "No such command"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(capsys, args, expected):
    code, _, err = call(capsys, *args)
    assert code == 2
    assert expected in one_error_line(err)


def test_empty_data_directory(capsys, tmp_path):
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    code, _, err = call(capsys, "run", "--data", tmp_path / "empty")
    assert code == 2 and "holds no images" in one_error_line(err)


def test_benchmark_without_arch_column(capsys, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("name,acc\nx,1\n")
    code, _, err = call(capsys, "run", "--data", "synthetic", "--benchmark", table)
    assert code == 2 and "no 'arch' column" in one_error_line(err)


def test_show_rejects_files_that_are_not_run_files(capsys, tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    code, _, err = call(capsys, "show", text)
    assert code == 1 and "not an HDF5 file" in one_error_line(err)  # unreadable content: a runtime error
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as h5:
        h5["x"] = [1, 2]
    code, _, err = call(capsys, "show", foreign)
    assert code == 2 and "not a tenas-kit run file" in one_error_line(err)


def test_unwritable_output_leaves_nothing(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = call(capsys, "run", "--data", "synthetic", "--out", blocker / "run.h5")
    assert code == 1 and "cannot write the run file" in one_error_line(err)  # an I/O failure: a runtime error
    assert blocker.read_text() == "x"


def test_cuda_request_without_cuda(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the error path is for machines without it")
    code, _, err = call(capsys, "run", "--device", "cuda", "--data", "synthetic")
    assert code == 2 and "no CUDA device" in one_error_line(err)


def test_inspect_reports_parameters_and_multiply_adds(capsys):
    code, out, _ = call(capsys, "inspect", "--space", "nb201", "--arch", BEST)
    assert code == 0
    assert "parameters: 1,073,466" in out and "multiply-adds:" in out


def test_console_script_error_has_no_traceback():
    result = tenaskit("run", "--space", "darts-typo")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("Error: unknown space 'darts-typo'") and "Traceback" not in result.stderr
