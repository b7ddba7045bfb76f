"""``tenaskit train`` on the command line: a stop signal saves and the same command resumes to the unbroken
result (SIGTERM, and kill -9, which loses at most the epoch under way); bad input is one line and exit 2, and
leaves an interrupted training as it was; show, plot and report read a training file."""

import io
import os
import signal
import subprocess
import time

import pytest
import torch

from conftest import TENASKIT, call
from test_train import CELL, GENOTYPE, assert_same_weights, trained_weights, write_cifar
from tenas_kit.h5content import content, differences
from tenas_kit.training.trainfile import TIMINGS, read

TINY = ["--epochs", "3", "--channels", "4", "--cells", "1", "--batch-size", "8"]
# One thread: the runs compared bit for bit compute alike; and these networks are too small to share.
ENV = dict(os.environ, COLUMNS="200", OMP_NUM_THREADS="1")
STOP_SECONDS = 5.0


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    return write_cifar(tmp_path_factory.mktemp("cifar"))


def argv(cifar, out, *extra):
    return [str(TENASKIT), "train", "--arch", CELL, "--data", cifar, *TINY, "--out", str(out), *extra]


@pytest.fixture(scope="module")
def unbroken(cifar, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "whole.h5"
    done = subprocess.run(argv(cifar, out), capture_output=True, text=True, env=ENV, timeout=600)
    assert done.returncode == 0, done.stderr
    assert [line.split(":")[0] for line in done.stdout.splitlines() if line.startswith("epoch")] == \
        ["epoch 1/3", "epoch 2/3", "epoch 3/3"]  # a line per epoch off a terminal
    return out


def started(folder, command):
    with open(folder / "out.txt", "w") as out, open(folder / "err.txt", "w") as err:
        return subprocess.Popen(command, stdout=out, stderr=err, env=ENV, start_new_session=True)


def wait_for(process, path, text, timeout=300):
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        assert process.poll() is None, f"ended before '{text}'"
        assert time.monotonic() < deadline, f"no '{text}' after {timeout} s"
        time.sleep(0.02)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_a_stopped_training_resumes_to_the_unbroken_result(cifar, unbroken, tmp_path, signum):
    out = tmp_path / "cut.h5"
    process = started(tmp_path, argv(cifar, out))
    wait_for(process, tmp_path / "out.txt", "epoch 1/3")
    sent = time.perf_counter()
    os.kill(process.pid, signum)
    code = process.wait(timeout=60)
    stderr = (tmp_path / "err.txt").read_text().strip().splitlines()
    partial = read(str(out) + ".partial")
    if signum == signal.SIGTERM:
        assert code == 143 and time.perf_counter() - sent < STOP_SECONDS
        assert len(stderr) == 1 and stderr[0].startswith("interrupted by SIGTERM: stopped in epoch"), stderr
        assert "rerun the same command to resume" in stderr[0] and partial["interrupted"]
    else:
        assert code == -signal.SIGKILL and partial["epochs_done"] >= 1  # at most the epoch in flight is lost
    done = subprocess.run(argv(cifar, out), capture_output=True, text=True, env=ENV, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"resuming {out}.partial" in done.stdout
    assert_same_weights(trained_weights(out), trained_weights(unbroken))
    assert differences(content(out, TIMINGS), content(unbroken, TIMINGS)) == []


DARTS_3_EDGES = GENOTYPE.replace("[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
                                 "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)]",
                                 "[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0)]")


@pytest.mark.parametrize("args, says", [
    (["--genotype", DARTS_3_EDGES], "normal needs a list of 8 (op, input) pairs"),
    (["--space", "nb201", "--genotype", GENOTYPE], "NAS-Bench-201"),
    (["--arch", CELL, "--recipe", "adam"], "unknown recipe 'adam'"),
    (["--arch", CELL, "--export", "model.txt"], "end it in .pt (TorchScript) or .onnx"),
    (["--arch", CELL, "--epochs", "0"], "--epochs"),
    ([], "give the cell to train"),
], ids=["genotype-with-3-edges", "cell-of-another-space", "unknown-recipe", "export-format", "no-epochs", "no-cell"])
def test_bad_input_is_one_line_and_exit_2(capsys, cifar, tmp_path, args, says):
    # The tiny budget bounds what a broken check would start.
    code, out, err = call(capsys, "train", "--data", cifar, "--out", tmp_path / "t.h5", "--epochs", "1", *TINY[2:],
                          *args)
    assert code == 2 and err.count("\n") == 1 and says in err, err
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_folder_with_no_classes_and_no_test_split_is_refused(capsys, tmp_path):
    from test_train import write_folder

    write_folder(tmp_path / "flat", ["x"])
    for image in (tmp_path / "flat" / "x").iterdir():
        image.rename(tmp_path / "flat" / image.name)
    (tmp_path / "flat" / "x").rmdir()
    code, _, err = call(capsys, "train", "--arch", CELL, "--data", tmp_path / "flat", "--out", tmp_path / "t.h5", *TINY)
    assert code == 2 and err.count("\n") == 1 and "has no class labels" in err, err


OTHER_RECIPE = ["--recipe", "darts", "--cutout", "0", "--drop-path", "0", "--auxiliary-weight", "0"]


@pytest.mark.parametrize("other", [["--arch", CELL.replace("skip_connect~1", "nor_conv_1x1~1")], ["--epochs", "4"],
                                   OTHER_RECIPE], ids=["another-cell", "another-epochs", "another-recipe"])
def test_an_interrupted_training_of_other_settings_is_refused_and_kept(capsys, cifar, tmp_path, other):
    import tenas_kit
    from test_train import StopAt, TINY as SMALL

    out = tmp_path / "t.h5"
    with pytest.raises(tenas_kit.errors.Interrupted):
        tenas_kit.train(CELL, data=cifar, out=out, reporter=StopAt(0, 2), **{**SMALL, "epochs": 3, "batch_size": 8})
    partial = (tmp_path / "t.h5.partial").read_bytes()
    mine = ["--arch", CELL, *TINY]
    given = [*mine, *other] if other[0] != "--arch" else [*other, *TINY]
    code, _, err = call(capsys, "train", "--data", cifar, "--out", out, *given)
    assert code == 2 and err.count("\n") == 1 and "holds an interrupted training with other settings" in err, err
    assert (tmp_path / "t.h5.partial").read_bytes() == partial and not out.exists()


def test_show_plot_and_report_read_a_training_file(capsys, unbroken, tmp_path):
    code, out, _ = call(capsys, "show", unbroken)
    epochs = read(unbroken)["epochs"]["test_accuracy"]
    assert code == 0 and f"test accuracy: {epochs[-1]:.2f}%" in out and "nb201" in out
    code, out, _ = call(capsys, "plot", "curve", unbroken, "-o", tmp_path / "curve.png")
    assert code == 0 and (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
    code, _, err = call(capsys, "plot", "trajectory", unbroken, "-o", tmp_path / "t.png")
    assert code == 2 and "tenaskit plot curve" in err
    code, out, _ = call(capsys, "report", unbroken, "-o", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert code == 0 and "Learning curve" in page and CELL in page and "data:image/png;base64," in page
    assert torch.load(io.BytesIO(read(unbroken, checkpoint=True)["checkpoint"]), weights_only=True)["network"]


def test_the_docs_option_table_holds_every_option_of_train():
    import re

    from conftest import ROOT
    from tenas_kit.cli import cli

    text = (ROOT / "docs" / "train.md").read_text()
    section = re.search(r"\n## Options\n(.*?)(?=\n## |\Z)", text, re.S).group(1)
    options = {o for p in cli.commands["train"].params for o in p.opts if o.startswith("--")} - {"--help"}
    assert options - set(re.findall(r"`(--[a-z-]+)`", section)) == set()
