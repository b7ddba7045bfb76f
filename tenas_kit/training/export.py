"""The trained network as a file that runs without tenas-kit: TorchScript (``.pt``) or ONNX (``.onnx``).

The file takes float32 images of shape (n, 3, R, R), RGB in [0, 1], and returns
logits: the data set's normalisation is part of it, so its user needs neither
tenas-kit nor the statistics. The cell, the recipe and the data set go with it
as JSON: TorchScript's extra file ``tenaskit.json``
(``torch.jit.load(path, _extra_files={"tenaskit.json": ""})``), ONNX's metadata
entry ``tenaskit``. ONNX needs the extra ``tenas-kit[onnx]``.
"""

from __future__ import annotations

import copy
import io
import json
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from tenas_kit.atomicfile import write_atomically
from tenas_kit.errors import TenasError, TenasRuntimeError

META = "tenaskit.json"
INPUT = "float32 images (n, 3, R, R), RGB scaled to [0, 1]; the data set's normalisation is inside"


class Normalised(nn.Module):
    """The network after the data set's normalisation."""

    def __init__(self, network, mean, std):
        super().__init__()
        self.network = network
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images):
        return self.network((images - self.mean) / self.std)


def require_onnx():
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise TenasError("--export FILE.onnx needs ONNX: pip install 'tenas-kit[onnx]' (or export FILE.pt, "
                         "TorchScript, which needs nothing more).") from None


def export(network, path, dataset, meta):
    """Write ``network`` (trained) to ``path``, its format chosen by the suffix; returns the path."""
    path = Path(path)
    model = Normalised(copy.deepcopy(network).cpu().float().to(memory_format=torch.contiguous_format),
                       dataset.mean, dataset.std).eval()
    side = dataset.resolution
    example = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(0))
    meta = {**meta, "input": INPUT.replace("R, R", f"{side}, {side}"), "output": "logits (n, classes)",
            "mean": list(dataset.mean), "std": list(dataset.std)}
    data = _torchscript(model, example, meta) if path.suffix.lower() == ".pt" else _onnx(model, example, meta)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data)
    except OSError as exc:
        raise TenasRuntimeError(f"cannot write '{path}': {exc.strerror or exc}; choose a writable --export.") from None
    return path


def _torchscript(model, example, meta):
    # Traced, not scripted: the network's mask decides in Python which ops run, and a trained cell's never changes.
    # PyTorch now warns that TorchScript is deprecated (docs/train.md says what that means for the file); the
    # warnings would break the command's one-line output.
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.trace(model, example), buffer, _extra_files={META: json.dumps(meta)})
    return buffer.getvalue()


def _onnx(model, example, meta):
    require_onnx()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (example,), input_names=["images"], output_names=["logits"],
                                    dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, verbose=False)
    proto = program.model_proto
    entry = proto.metadata_props.add()
    entry.key, entry.value = "tenaskit", json.dumps(meta)
    return proto.SerializeToString()
