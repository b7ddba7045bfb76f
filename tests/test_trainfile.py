"""The training file as a storage format: sealed as run files are, and a damaged one refused in one line that
names it for what it is."""

import h5py
import pytest

from conftest import call
from tenas_kit.errors import TenasRuntimeError
from tenas_kit.training.trainfile import COLUMNS, TrainFile, read


@pytest.fixture
def finished(tmp_path):
    """A finished training file written without training: two epochs of made-up numbers and weights."""
    path = tmp_path / "train.h5"
    run = TrainFile.open(path, {"seed": 1}, {"recipe": "nb201"}, "made-up images", "|skip_connect~0|")
    for epoch in range(2):
        run.commit({column: epoch + i / 10 for i, column in enumerate(COLUMNS)}, b"checkpoint %d" % epoch)
    run.finish(b"trained weights")
    return path


def test_every_dataset_is_checksummed_and_the_description_sealed(finished):
    with h5py.File(finished, "r") as h5:
        assert len(h5.attrs["sha256"]) == 64
        datasets = []
        h5.visititems(lambda name, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None)
        assert len(datasets) == len(COLUMNS) + 1
        assert all(ds.fletcher32 and ds.chunks and len(ds.attrs["sha256"]) == 64 for ds in datasets)
    assert read(finished, checkpoint=True)["checkpoint"] == b"trained weights"


@pytest.mark.parametrize("dataset", ["epochs/test_accuracy", "checkpoint"])
def test_a_flipped_byte_is_refused_in_one_line_naming_a_training_file(finished, capsys, dataset):
    with h5py.File(finished, "r") as h5:
        offset = h5[dataset].id.get_chunk_info(0).byte_offset
    with open(finished, "r+b") as handle:
        handle.seek(offset + 2)
        byte = handle.read(1)[0]
        handle.seek(offset + 2)
        handle.write(bytes([byte ^ 8]))
    with pytest.raises(TenasRuntimeError, match=f"^training file '{finished}' is damaged .*fletcher32"):
        read(finished, checkpoint=True)
    if dataset.startswith("epochs/"):  # what show reads
        code, out, err = call(capsys, "show", finished)
        assert code == 1 and out == "" and err.strip().startswith(f"Error: training file '{finished}' is damaged")
