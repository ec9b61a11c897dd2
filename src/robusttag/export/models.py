"""Trained taggers as they are deployed: ONNX (for ONNX Runtime, as in CMSSW and Athena) and TorchScript, each
with the preprocessing folded in.

The exported graph takes a jet's inputs as the dataset gives them (:func:`robusttag.preprocess.deployed_inputs`:
the preprocessing's feature order, the dataset's units, NaN where a track slot is empty), replaces defaults as
the preprocessing does (not finite, or below the column's default), scales with the training set's mean and
standard deviation, runs the network and returns the probabilities (b, c, light). The input is named
``inputs`` (jets x features), the output ``probabilities`` (jets x 3), the jets axis dynamic; the feature order
and the class order are in the ONNX file's metadata.

ONNX is written by torch's TorchScript-based exporter at opset 17 (``dynamo=False``): its graph is plain
Gemm, Relu, Softmax, Where, comparisons (and for the set-based taggers MatMul, Reshape, LayerNormalization),
which every ONNX Runtime since 1.14 and robusttag's own importer read; the torch.export-based exporter, the
default since torch 2.9, needs the onnxscript package and writes opset 18+ with ``Reshape(allowzero)``, which
common converters do not read.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch
from torch import nn

from ..checkpoints import load_tagger
from ..errors import ResultsError
from ..external import plain_network
from ..features import CLASS_NAMES
from ..io import atomic_output
from ..model import Tagger, probabilities
from ..preprocess import deployed_inputs, first_test_jets, stored_transform

ONNX_OPSET = 17
#: how far the exports' probabilities may lie from the pipeline's on the same jets
PARITY_TOLERANCE = 1e-5
INPUT_NAME, OUTPUT_NAME = "inputs", "probabilities"


class DeployedTagger(nn.Module):
    """A trained tagger behind its preprocessing: a jet's inputs in the dataset's units in, probabilities out."""

    def __init__(self, network: nn.Module, summary: dict) -> None:
        super().__init__()
        self.network = network
        for name in ("default", "mean", "std"):
            values = torch.tensor([column[name] for column in summary["features"]], dtype=torch.float32)
            self.register_buffer(name, values)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        is_default = ~torch.isfinite(inputs) | (inputs < self.default)
        scaled = (torch.where(is_default, self.default, inputs) - self.mean) / self.std
        return torch.softmax(self.network(scaled), dim=-1)


def deployed_tagger(checkpoint: str | os.PathLike, summary: dict) -> DeployedTagger:
    """The tagger of ``checkpoint`` behind the preprocessing of ``summary`` (``preprocessing.json``'s content),
    in evaluation mode; the DNN as plain Linear and ReLU layers (no CPU-blocked pass, no dropout).

    Raises
    ------
    ResultsError
        When the checkpoint's tagger does not take the preprocessing's number of inputs.
    """
    model = load_tagger(checkpoint, torch.device("cpu"))
    network = plain_network(model) if isinstance(model, Tagger) else model
    n_inputs = len(summary["feature_order"])
    if model.settings.n_inputs != n_inputs:
        raise ResultsError(
            f"{checkpoint}: the tagger takes {model.settings.n_inputs} inputs, its preprocessing makes {n_inputs}"
        )
    return DeployedTagger(network, summary).eval()


def _example(summary: dict) -> torch.Tensor:
    return torch.zeros(2, len(summary["feature_order"]))


def write_onnx(tagger: DeployedTagger, summary: dict, path: str | os.PathLike) -> Path:
    """The tagger as ONNX (opset 17, TorchScript-based exporter; see the module's note), with its feature and
    class order in the metadata.
    """
    path = Path(path)
    with atomic_output(path) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "You are using the legacy TorchScript-based ONNX export")
        torch.onnx.export(
            tagger,
            (_example(summary),),
            str(tmp),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "jets"}, OUTPUT_NAME: {0: "jets"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
        graph = onnx.load(str(tmp))
        metadata = {
            "feature_order": json.dumps(summary["feature_order"]),
            "classes": json.dumps(list(CLASS_NAMES)),
            "inputs": "the dataset's units, NaN where a track slot is empty; defaults and scaling inside",
        }
        for key, value in metadata.items():
            graph.metadata_props.add(key=key, value=value)
        onnx.save(graph, str(tmp))
    return path


def write_torchscript(tagger: DeployedTagger, summary: dict, path: str | os.PathLike) -> Path:
    """The tagger as TorchScript (traced: the same graph for every architecture)."""
    path = Path(path)
    with torch.no_grad():
        program = torch.jit.trace(tagger, (_example(summary),))
    with atomic_output(path) as tmp:
        torch.jit.save(program, str(tmp))
    return path


def pipeline_probabilities(checkpoint: str | os.PathLike, batch, summary: dict) -> np.ndarray:
    """The probabilities the pipeline gives these jets: preprocessed as the splits are, through the tagger."""
    table = stored_transform(summary)[0](batch)
    x = torch.from_numpy(np.stack([table.column(name).to_numpy() for name in summary["feature_order"]], 1))
    with torch.no_grad():
        return probabilities(load_tagger(checkpoint, torch.device("cpu"))(x)).numpy()


def export_checkpoint(
    checkpoint: str | os.PathLike,
    summary: dict,
    raw_jets: str | os.PathLike,
    onnx_path: str | os.PathLike,
    torchscript_path: str | os.PathLike,
    check_jets: int = 2000,
) -> float:
    """Write a checkpoint's ONNX and TorchScript exports, then run both on the first ``check_jets`` raw test jets
    (ONNX in ONNX Runtime) against the pipeline's probabilities of the same jets.

    Returns
    -------
    float
        The largest absolute difference of a probability, over both exports.

    Raises
    ------
    ResultsError
        When an export differs from the pipeline by more than :data:`PARITY_TOLERANCE` (both files removed).
    """
    tagger = deployed_tagger(checkpoint, summary)
    files = [write_onnx(tagger, summary, onnx_path), write_torchscript(tagger, summary, torchscript_path)]
    batch = first_test_jets(raw_jets, summary, check_jets)
    inputs, expected = deployed_inputs(batch, summary), pipeline_probabilities(checkpoint, batch, summary)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        outputs = {
            "ONNX Runtime": session.run([OUTPUT_NAME], {INPUT_NAME: inputs})[0],
            "TorchScript": torch.jit.load(str(torchscript_path))(torch.from_numpy(inputs)).numpy(),
        }
    differences = {name: float(np.abs(p - expected).max()) for name, p in outputs.items()}
    if max(differences.values()) > PARITY_TOLERANCE or not np.isfinite(list(differences.values())).all():
        for file in files:
            file.unlink(missing_ok=True)
        raise ResultsError(
            f"{checkpoint}: the exports' probabilities differ from the pipeline's on {len(batch)} test jets by "
            f"{differences} (at most {PARITY_TOLERANCE} expected)"
        )
    return max(differences.values())
