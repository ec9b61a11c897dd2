"""Auditing a tagger trained elsewhere: a TorchScript model behind robusttag's interface.

An audited model is not trained here. :class:`ExternalTagger` wraps it so that it
takes robusttag's input rows (flat or sequence layout, standardised as its
``preprocessing.json`` says) and returns logits in robusttag's class order (b, c,
light): every attack of the suite, the baselines, the working points and the
shifted samples then treat it as they treat robusttag's own taggers. Its
input gradients come from TorchScript's autograd. The certified bound needs the
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


class ExternalTagger(nn.Module):
    """A TorchScript program as a robusttag tagger: input rows in, logits (b, c, light) out."""

    def __init__(self, program: torch.jit.ScriptModule, declaration: ExternalModel, layout: InputLayout) -> None:
        super().__init__()
        self.program = program.eval()
        self.declaration = declaration
        self.layout = layout
        #: the program's output column of each of robusttag's classes
        self.order = [declaration.classes.index(name) for name in CLASS_NAMES]

    def raw_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """The program's own outputs for input rows of the layout (its signature: :class:`ExternalModel`)."""
        if self.layout.kind == "flat":
            return self.program(x)
        jets, tracks, present = split_inputs(x, self.layout)
        return self.program(jets, tracks, present[..., 0] > 0)

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
        if self.layout.kind != "flat" or getattr(self.program, "original_name", "") != "Sequential":
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
    if declaration.outputs == "probabilities":
        sums = out.sum(1)
        if (out < 0).any() or (out > 1).any() or ((sums - 1).abs() > 1e-3).any():
            raise ConfigError(
                f"{where} is declared to return probabilities, but its rows sum to "
                f"{float(sums.min()):.4g} ... {float(sums.max()):.4g}: declare outputs: logits"
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


def external_tagger(state: dict, device: torch.device) -> ExternalTagger:
    """The audited model of an imported checkpoint (:func:`import_external`)."""
    declaration = ExternalModel(**{**state["external"], "classes": tuple(state["external"]["classes"])})
    name = f"the program of audited model '{declaration.name}' (imported from {declaration.file})"
    program = load_program(state["program"].cpu().numpy().tobytes(), device, name)
    return ExternalTagger(program, declaration, InputLayout(**state["layout"])).eval()


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
    tagger = ExternalTagger(load_program(data, device, where), declaration, layout)
    val = load_split(val_path, summary, device, with_movable=False)
    check_declaration(tagger, val.x)
    start = time.perf_counter()
    row = {"epoch": 1, "train_loss": float("nan"), "lr": float("nan"), **validation_metrics(tagger, val, loss)}
    row["seconds"] = time.perf_counter() - start
    row["jets_per_s"] = len(val) / row["seconds"]
    row["selection_score"] = selection_score([row], loss.selection_metric, loss.selection_smoothing)
    state = {
        "external": asdict(declaration),
        "program": torch.frombuffer(bytearray(data), dtype=torch.uint8),
        "layout": asdict(layout),
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
