"""Auditing a tagger trained elsewhere: a TorchScript or ONNX model behind robusttag's interface.

An audited model is not trained here. :class:`ExternalTagger` wraps it so that it
takes robusttag's input rows (flat or sequence layout, standardised as its
``preprocessing.json`` says) and returns logits in robusttag's class order (b, c,
light): every attack of the suite, the baselines, the working points and the
shifted samples then treat it as they treat robusttag's own taggers. Its
input gradients come from TorchScript's autograd, or for an ONNX model from
torch running its graph (:mod:`.onnx_graph`; the graph is first checked against
ONNX Runtime on real jets). A model declared with ``inputs: raw`` (robusttag's
exports: the preprocessing folded in) is given the rows un-standardised, in the
dataset's units. The certified bound needs the
network's layers: a scripted ``nn.Sequential`` of Linear and ReLU layers (what
:func:`export_torchscript` writes for robusttag's DNN) is bounded like the DNN;
other models get no certified bound.

:func:`import_external` checks a model against its declaration on real jets
(the width of its inputs, the number and kind of its outputs) and writes it as a
one-checkpoint training folder (``epoch_001.pt`` holding the program itself,
``history.csv`` with its validation metrics), which the evaluation loads with
:func:`robusttag.checkpoints.load_tagger` like any other.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .architectures.sequence import split_inputs
from .config import ExternalModel, TrainingSettings
from .data import load_split
from .errors import ConfigError
from .features import CLASS_NAMES, InputLayout
from .history import HISTORY_COLUMNS, selection_score
from .io import atomic_output
from .model import Tagger
from .paths import history_file
from .validation import validation_metrics  # the training loop's own metrics, on the same jets

log = logging.getLogger(__name__)

#: rows of the first check of a model against its declaration
_CHECK_JETS = 16
#: rows on which an ONNX graph run by torch is compared with ONNX Runtime, and how far they may differ
_ONNX_CHECK_JETS, ONNX_TOLERANCE = 512, 1e-5


class ExternalTagger(nn.Module):
    """A TorchScript program or an ONNX graph as a robusttag tagger: input rows in, logits (b, c, light) out.

    ``unscale`` (mean, standard deviation per input) turns the standardised rows back into the dataset's units
    for a model declared with ``inputs: raw``.
    """

    def __init__(
        self,
        program: nn.Module,
        declaration: ExternalModel,
        layout: InputLayout,
        unscale: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.program = program.eval()
        self.declaration = declaration
        self.layout = layout
        if (declaration.inputs == "raw") != (unscale is not None):
            raise ValueError("a model with raw inputs needs the preprocessing's mean and std, and only it")
        if unscale is not None:
            self.register_buffer("mean", unscale[0])
            self.register_buffer("std", unscale[1])
        #: the program's output column of each of robusttag's classes
        self.order = [declaration.classes.index(name) for name in CLASS_NAMES]

    def program_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """What the program is called on for input rows of the layout (its signature: :class:`ExternalModel`)."""
        if self.declaration.inputs == "raw":
            return (x * self.std + self.mean,)
        if self.layout.kind == "flat":
            return (x,)
        jets, tracks, present = split_inputs(x, self.layout)
        return jets, tracks, present[..., 0] > 0

    def raw_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """The program's own outputs for input rows of the layout."""
        return self.program(*self.program_inputs(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.raw_outputs(x)[:, self.order]
        if self.declaration.outputs == "probabilities":  # log-probabilities: logits of the same softmax
            return out.clamp_min(torch.finfo(out.dtype).tiny).log()
        return out

    def train(self, mode: bool = True) -> ExternalTagger:
        """An audited model is never trained: its program stays in evaluation mode (no dropout) whatever."""
        super().train(mode)
        self.program.eval()
        return self

    def certifiable(self) -> nn.Sequential | None:
        """A plain network of the same function whose certified bounds stand for this model's, or None.

        Only a flat model scripted from an ``nn.Sequential`` of Linear, ReLU and Dropout layers (and a
        final Softmax when its outputs are probabilities: the log-odds of a softmax are the logit
        differences) qualifies; its output layer's rows are put in robusttag's class order.
        """
        if self.layout.kind != "flat" or self.declaration.inputs == "raw":
            return None
        if getattr(self.program, "original_name", "") != "Sequential":
            return None
        layers, children = [], list(self.program.children())
        if self.declaration.outputs == "probabilities":
            if not children or children[-1].original_name != "Softmax":
                return None
            children = children[:-1]
        for child in children:
            kind = child.original_name
            if kind == "Linear":
                layer = nn.Linear(child.weight.shape[1], child.weight.shape[0])
                layer.weight.data.copy_(child.weight.detach())
                layer.bias.data.copy_(child.bias.detach())
                layers.append(layer)
            elif kind == "ReLU":
                layers.append(nn.ReLU())
            elif kind != "Dropout":
                return None
        if not layers or not isinstance(layers[-1], nn.Linear) or layers[-1].out_features != len(self.order):
            return None
        last = layers[-1]
        last.weight.data, last.bias.data = last.weight.data[self.order], last.bias.data[self.order]
        return nn.Sequential(*layers).to(next(iter(self.program.parameters())).device).eval()


def check_declaration(tagger: ExternalTagger, x: torch.Tensor) -> None:
    """Run the program on a few rows and check its outputs against its declaration.

    Raises
    ------
    ConfigError
        When the program refuses the inputs of its declared layout, returns another shape than
        (jets, 3), values that are not finite, or "probabilities" that are not.
    """
    declaration, rows = tagger.declaration, x[:_CHECK_JETS]
    where = f"external model '{declaration.name}' ({declaration.file})"
    shape = (
        f"(jets, {tagger.layout.n_inputs})"
        if tagger.layout.kind == "flat"
        else f"(jets, {tagger.layout.n_jet_features}), (jets, {tagger.layout.n_tracks}, "
        f"{tagger.layout.n_track_fields - 1}) and a (jets, {tagger.layout.n_tracks}) bool mask"
    )
    try:
        with torch.no_grad():
            out = tagger.raw_outputs(rows)
    except (RuntimeError, TypeError, ValueError) as error:
        raise ConfigError(f"{where} does not take its declared {declaration.layout} inputs {shape}: {error}") from error
    if not isinstance(out, torch.Tensor) or out.shape != (len(rows), len(CLASS_NAMES)):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(f"{where} returns {got}, not one row of {len(CLASS_NAMES)} {declaration.outputs} per jet")
    if not torch.isfinite(out).all():
        raise ConfigError(f"{where} returns values that are not finite on the first {len(rows)} jets")
    sums = out.sum(1)
    normalised = not ((out < 0).any() or (out > 1).any() or ((sums - 1).abs() > 1e-3).any())
    if declaration.outputs == "probabilities" and not normalised:
        raise ConfigError(
            f"{where} is declared to return probabilities, but its rows sum to "
            f"{float(sums.min()):.4g} ... {float(sums.max()):.4g}: declare outputs: logits"
        )
    if declaration.outputs == "logits" and normalised:
        raise ConfigError(
            f"{where} is declared to return logits, but every row of the first {len(rows)} jets lies in [0, 1] "
            "and sums to 1: declare outputs: probabilities (robusttag's exports return probabilities)"
        )


def load_program(
    data: bytes | str | os.PathLike, device: torch.device, name: str | None = None
) -> torch.jit.ScriptModule:
    """A TorchScript program from its bytes or its file, on ``device``; ``name`` says in an error
    where it came from (by default the file's path; bytes should be given their file's name).

    Raises
    ------
    ConfigError
        When it is not a TorchScript file.
    """
    source = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    try:
        return torch.jit.load(source, map_location=device)
    except (RuntimeError, ValueError) as error:
        name = name or ("a program given as bytes" if isinstance(data, bytes) else str(data))
        raise ConfigError(
            f"{name} is not a TorchScript file: expected a program saved by torch.jit.save "
            f"(e.g. torch.jit.save(torch.jit.script(model), path)); torch.jit.load says: {error}"
        ) from error


def load_model(data: bytes, declaration: ExternalModel, device: torch.device, where: str) -> nn.Module:
    """An audited model's program from its file's bytes: an ONNX graph run by torch, or TorchScript.

    Raises
    ------
    ConfigError
        When the bytes are not a model of the declared kind, or an ONNX graph that robusttag cannot run.
    """
    if declaration.is_onnx:
        from .onnx_graph import load_onnx  # onnx costs a second of imports to every job that loads a tagger

        return load_onnx(data, where).to(device)
    return load_program(data, device, where)


def _unscale(summary: dict, declaration: ExternalModel, device: torch.device):
    """(mean, std) of the inputs for a model with raw inputs, else None."""
    if declaration.inputs != "raw":
        return None
    columns = summary["features"]
    return tuple(torch.tensor([c[key] for c in columns], dtype=torch.float32, device=device) for key in ("mean", "std"))


def external_tagger(state: dict, device: torch.device) -> ExternalTagger:
    """The audited model of an imported checkpoint (:func:`import_external`)."""
    declaration = ExternalModel(**{**state["external"], "classes": tuple(state["external"]["classes"])})
    name = f"the program of audited model '{declaration.name}' (imported from {declaration.file})"
    program = load_model(state["program"].cpu().numpy().tobytes(), declaration, device, name)
    unscale = state.get("unscale")
    unscale = None if unscale is None else tuple(torch.tensor(v, dtype=torch.float32, device=device) for v in unscale)
    return ExternalTagger(program, declaration, InputLayout(**state["layout"]), unscale).eval()


def check_against_onnx_runtime(tagger: ExternalTagger, data: bytes, x: torch.Tensor, where: str) -> float:
    """Run an ONNX model's graph in ONNX Runtime and in torch on the first rows of ``x``: the largest
    difference of an output.

    Raises
    ------
    ConfigError
        When the graph's inputs are not the declared signature's, or torch's reading of the graph differs from
        ONNX Runtime's by more than :data:`ONNX_TOLERANCE` (relative to the outputs' scale).
    """
    import onnxruntime  # only where an ONNX model is imported

    rows = x[:_ONNX_CHECK_JETS]
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    names = [given.name for given in session.get_inputs()]
    inputs = [t.detach().cpu().numpy() for t in tagger.program_inputs(rows)]
    if len(names) != len(inputs):
        raise ConfigError(f"{where}: the ONNX graph takes inputs {names}, its declaration gives {len(inputs)}")
    expected = session.run([session.get_outputs()[0].name], dict(zip(names, inputs)))[0]
    with torch.no_grad():
        ours = tagger.raw_outputs(rows).cpu().numpy()
    difference = float(np.abs(ours - expected).max())
    if not difference <= ONNX_TOLERANCE * max(1.0, float(np.abs(expected).max())):
        raise ConfigError(
            f"{where}: robusttag's run of the ONNX graph differs from ONNX Runtime's by {difference:.3g} on the "
            f"first {len(rows)} validation jets (at most {ONNX_TOLERANCE} expected)"
        )
    return difference


def import_external(
    declaration: ExternalModel,
    summary_path: str | os.PathLike,
    val_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    loss: TrainingSettings,
    device: torch.device,
) -> dict:
    """Check an audited model on the validation jets and write it as a training folder of one checkpoint.

    ``output_dir`` receives ``epoch_001.pt`` (the program's bytes, its declaration and layout) and
    ``history.csv`` (one row: its validation loss and AUCs; no training loss or learning rate).

    Raises
    ------
    ConfigError
        When the model does not match its declaration, or its layout is not the preprocessing's.
    """
    summary = json.loads(Path(summary_path).read_text())
    layout = InputLayout.from_summary(summary)
    if layout.kind != declaration.layout:
        raise ConfigError(f"external model '{declaration.name}' reads {declaration.layout} inputs, not {layout.kind}")
    data = Path(declaration.file).read_bytes()
    where = f"evaluation.external_models: model '{declaration.name}' (file: {declaration.file})"
    unscale = _unscale(summary, declaration, device)
    tagger = ExternalTagger(load_model(data, declaration, device, where), declaration, layout, unscale)
    val = load_split(val_path, summary, device, with_movable=False)
    check_declaration(tagger, val.x)
    if declaration.is_onnx:
        difference = check_against_onnx_runtime(tagger, data, val.x, where)
        log.info("%s: torch runs the ONNX graph as ONNX Runtime does, to %.2e", declaration.name, difference)
    start = time.perf_counter()
    row = {"epoch": 1, "train_loss": float("nan"), "lr": float("nan"), **validation_metrics(tagger, val, loss)}
    row["seconds"] = time.perf_counter() - start
    row["jets_per_s"] = len(val) / row["seconds"]
    row["selection_score"] = selection_score([row], loss.selection_metric, loss.selection_smoothing)
    state = {
        "external": asdict(declaration),
        "program": torch.frombuffer(bytearray(data), dtype=torch.uint8),
        "layout": asdict(layout),
        "unscale": None if unscale is None else [t.tolist() for t in unscale],
        "epoch": 1,
        "val_loss": row["val_loss"],
        "history": [row],
    }
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output(output_dir / "epoch_001.pt") as tmp:
        torch.save(state, tmp)
    with atomic_output(history_file(output_dir)) as tmp, open(tmp, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerow({key: row[key] for key in HISTORY_COLUMNS})
    log.info(
        "%s: %s inputs, validation AUC BvsL %.4f CvsL %.4f",
        declaration.name,
        layout.kind,
        row["val_auc_bvsl"],
        row["val_auc_cvsl"],
    )
    return row


class _SequenceInterface(nn.Module):
    """A robusttag set-based tagger with the sequence signature of an audited model."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, jets: torch.Tensor, tracks: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        blocks = torch.cat([tracks, mask.unsqueeze(-1).to(tracks.dtype)], -1)
        return self.model(torch.cat([jets, blocks.flatten(1)], 1))


def plain_network(model: Tagger) -> nn.Sequential:
    """The DNN as plain torch layers (evaluation mode: dropout is the identity), the same weights."""
    layers: list[nn.Module] = []
    for layer in model:
        if isinstance(layer, nn.Linear):
            plain = nn.Linear(layer.in_features, layer.out_features)
            plain.load_state_dict(layer.state_dict())
            layers.append(plain)
        else:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).eval()


def export_torchscript(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write one of robusttag's trained taggers as TorchScript, in the signature an audit declares.

    The DNN is scripted as an ``nn.Sequential`` of Linear and ReLU layers (flat rows in, logits in the
    order b, c, light out: certifiable when audited); a set-based tagger is traced with the sequence
    signature (jet features, tracks, padding mask).
    """
    model = model.eval()
    if isinstance(model, Tagger):
        program = torch.jit.script(plain_network(model))
    else:
        layout = model.settings.layout
        x = torch.randn(4, layout.n_inputs, generator=torch.Generator().manual_seed(0))
        jets, tracks, present = split_inputs(x, layout)
        present = (torch.arange(layout.n_tracks) < torch.arange(1, 5)[:, None]).unsqueeze(-1)
        with torch.no_grad():
            program = torch.jit.trace(_SequenceInterface(model), (jets, tracks.contiguous(), present[..., 0] > 0))
    path = Path(path)
    with atomic_output(path) as tmp:
        torch.jit.save(program, str(tmp))
    return path
