"""Auditing a tagger trained elsewhere: robusttag's own trained models exported to TorchScript come back
through the audit with the native evaluation's numbers, to the bit; a model that does not match its
declaration is refused with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from torch import nn

import robusttag.config as rt
from robusttag.architectures import build_model
from robusttag.checkpoints import load_tagger
from robusttag.config import (
    EvaluationSettings,
    ExternalModel,
    ModelSettings,
    ScoringSettings,
    TrainingSettings,
    from_params,
    scoring_config,
    strong_attack_config,
)
from robusttag.config.schema import default_config
from robusttag.data import load_split
from robusttag.errors import ConfigError
from robusttag.evaluate import score_checkpoint
from robusttag.export.models import deployed_tagger, write_onnx
from robusttag.external import ExternalTagger, export_torchscript, import_external, plain_network
from robusttag.history import read_history
from robusttag.preprocess import PreprocessSettings, preprocess, read_summary
from robusttag.sources.synthetic import generate
from robusttag.strong_attacks import score_strong_attacks
from robusttag.training import model_settings, train, validation_metrics

CPU = torch.device("cpu")
EVALUATION = {
    "epsilons": [0.01, 0.05],
    "attacks": [{"method": "pgd", "steps": 2}, {"method": "ngm"}, {"method": "targeted", "steps": 2}],
    "certified_jets": 100,
    "visibility_jets": 300,
}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("external")
    pq.write_table(generate(4000, seed=31).to_arrow(), base / "raw.parquet")
    preprocess(base / "raw.parquet", base / "flat", PreprocessSettings())
    preprocess(base / "raw.parquet", base / "sequence", PreprocessSettings(layout="sequence", max_tracks=10))
    return base


@pytest.fixture(scope="module")
def trained(data) -> Path:
    """A nominal DNN trained by robusttag: results/models/nominal/seed_1 of a run."""
    output = data / "native" / "models" / "nominal" / "seed_1"
    settings = TrainingSettings(batch_size=256, max_epochs=2, patience=2)
    flat = data / "flat"
    train(flat / "train.parquet", flat / "val.parquet", flat / "preprocessing.json", output, settings, threads=1)
    return output


def _audit(data: Path, declaration: ExternalModel, layout: str = "flat") -> Path:
    """The audit's training folder of one checkpoint, named as the native one (the same identity)."""
    folder = data / f"audit_{declaration.name}" / "models" / "nominal" / "seed_1"
    inputs = data / layout
    import_external(declaration, inputs / "preprocessing.json", inputs / "val.parquet", folder, TrainingSettings(), CPU)
    return folder


def _evaluate(folder: Path, epoch: int, inputs: Path, out: Path) -> dict[str, pd.DataFrame]:
    """FGSM and the baselines, the strong suite, its checks and certified bounds of one checkpoint."""
    out.mkdir(parents=True, exist_ok=True)
    scoring = from_params(ScoringSettings, scoring_config(EVALUATION, baselines=True))
    files = (inputs / "test.parquet", inputs / "preprocessing.json")
    loss = TrainingSettings().loss
    score_checkpoint(folder, epoch, *files, out / "scores.parquet", scoring, loss, baselines=True, threads=1)
    strong = from_params(type(EvaluationSettings().strong), strong_attack_config(EVALUATION | {"exact_domains": 2000}))
    names = ("strong.parquet", "checks.csv", "certified.csv", "visibility.csv", "invisible.csv")
    score_strong_attacks(folder, epoch, *files, *(out / n for n in names), strong, loss, threads=1)
    tables = {"scores": pd.read_parquet(out / "scores.parquet"), "strong": pd.read_parquet(out / "strong.parquet")}
    return tables | {name: pd.read_csv(out / f"{name}.csv") for name in ("checks", "certified", "visibility")}


def test_a_dnn_exported_to_torchscript_is_audited_with_the_native_numbers_to_the_bit(data, trained, tmp_path):
    file = export_torchscript(load_tagger(trained / "epoch_002.pt", CPU), tmp_path / "dnn.pt")
    audit = _audit(data, ExternalModel("exported", str(file)))
    history = read_history(audit / "history.csv")
    assert [row["epoch"] for row in history] == [1]
    summary = json.loads((data / "flat/preprocessing.json").read_text())
    val = load_split(data / "flat/val.parquet", summary, CPU, with_movable=False)
    native = validation_metrics(load_tagger(trained / "epoch_002.pt", CPU), val, TrainingSettings())
    assert {k: history[0][k] for k in native} == native
    assert isinstance(load_tagger(audit / "epoch_001.pt", CPU), ExternalTagger)
    ours = _evaluate(trained, 2, data / "flat", tmp_path / "native")
    theirs = _evaluate(audit, 1, data / "flat", tmp_path / "audit")
    for name in ours:
        other = ["epoch", "exact_seconds"]  # the checkpoint's number; the verification's wall time
        a, b = (ours[name].drop(columns=other, errors="ignore"), theirs[name].drop(columns=other, errors="ignore"))
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)
    assert set(theirs["certified"]["method"]) == {"crown"} and len(theirs["certified"]) == 2 * 3
    assert theirs["scores"]["attack"].nunique() == 5  # raw, FGSM and the three baselines


def test_the_declared_class_order_and_probabilities_are_honoured(data, trained, tmp_path):
    """A model whose outputs are the probabilities of (light, b, c): the audit reads them back in
    robusttag's order, and bounds the plain network under the softmax exactly as the native one."""
    native = load_tagger(trained / "epoch_002.pt", CPU)
    plain = plain_network(native)
    last = plain[-1]
    order = [2, 0, 1]  # light, b, c
    last.weight.data, last.bias.data = last.weight.data[order], last.bias.data[order]
    program = torch.jit.script(nn.Sequential(*plain, nn.Softmax(dim=1)))
    torch.jit.save(program, str(tmp_path / "probabilities.pt"))
    declaration = ExternalModel(
        "probabilities", str(tmp_path / "probabilities.pt"), classes=("light", "b", "c"), outputs="probabilities"
    )
    tagger = load_tagger(_audit(data, declaration) / "epoch_001.pt", CPU)
    summary = json.loads((data / "flat/preprocessing.json").read_text())
    x = load_split(data / "flat/test.parquet", summary, CPU, with_movable=False).x[:500]
    with torch.no_grad():
        torch.testing.assert_close(torch.softmax(tagger(x), 1), torch.softmax(native(x), 1), rtol=0, atol=1e-6)
    network = tagger.certifiable()
    for ours, theirs in zip(network, plain_network(native)):
        if isinstance(ours, nn.Linear):
            assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)


def _scored(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every scored jet of the attacks and the strong suite, in a fixed order."""
    rows = pd.concat([tables["scores"], tables["strong"]], ignore_index=True).astype({"attack_source": str})
    rows["attack_source"] = rows["attack_source"].where(rows["attack_source"] != rows["model"].astype(str), "itself")
    keys = ["attack", "attack_source", "epsilon"]
    return rows.drop(columns=["model", "epoch"], errors="ignore").sort_values(keys, kind="stable")


@pytest.mark.parametrize("architecture", ["dnn", "transformer"])
def test_an_onnx_export_is_audited_with_the_native_numbers(data, trained, architecture, tmp_path):
    """robusttag's own ONNX export (raw inputs, the preprocessing inside), audited: torch runs its graph, and
    FGSM, the baselines and the strong suite score every jet as the native model does, to float precision."""
    layout = "flat" if architecture == "dnn" else "sequence"
    summary = read_summary(data / layout / "preprocessing.json")
    if architecture == "dnn":
        checkpoint = trained / "epoch_002.pt"
    else:
        model = ModelSettings.from_dict({"architecture": "transformer", "transformer": {"dim": 16, "blocks": 1}})
        settings = TrainingSettings(batch_size=256, max_epochs=1, patience=1, model=model)
        files = [data / layout / name for name in ("train.parquet", "val.parquet", "preprocessing.json")]
        train(*files, tmp_path / "transformer" / "nominal" / "seed_1", settings, threads=1)
        checkpoint = tmp_path / "transformer" / "nominal" / "seed_1" / "epoch_001.pt"
    write_onnx(deployed_tagger(checkpoint, summary), summary, tmp_path / "tagger.onnx")
    file = str(tmp_path / "tagger.onnx")
    with pytest.raises(ConfigError, match="declared to return logits, but every row"):
        _audit(data, ExternalModel("onnx_export", file, layout=layout, inputs="raw"), layout)
    declaration = ExternalModel("onnx_export", file, layout=layout, inputs="raw", outputs="probabilities")
    audit = _audit(data, declaration, layout)
    assert load_tagger(audit / "epoch_001.pt", CPU).certifiable() is None
    epoch = int(checkpoint.stem.split("_")[1])
    ours = _scored(_evaluate(checkpoint.parent, epoch, data / layout, tmp_path / "native"))
    theirs = _scored(_evaluate(audit, 1, data / layout, tmp_path / "audit"))
    assert len(ours) == len(theirs) and ours["attack"].nunique() >= 8
    for column in ("label", "attack", "epsilon"):
        assert (ours[column].to_numpy() == theirs[column].to_numpy()).all()
    probabilities = ["p_b", "p_c", "p_light"]
    difference = np.abs(ours[probabilities].to_numpy() - theirs[probabilities].to_numpy())
    assert np.quantile(difference, 0.999) < 1e-5 and difference.max() < 1e-3


def test_an_onnx_model_with_an_operator_robusttag_does_not_run_is_refused_before_any_job(tmp_path):
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Trilu", ["x"], ["y"], name="band")],
        "tagger",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, 184])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, 184])],
    )
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), tmp_path / "t.onnx")
    config = default_config()
    config["evaluation"]["external_models"] = [{"name": "banded", "file": str(tmp_path / "t.onnx")}]
    with pytest.raises(ConfigError, match=r"model 'banded' \(file: .*t.onnx\): ONNX operator Trilu \(node 'band'\)"):
        rt.check_config(config)


def test_a_set_based_tagger_is_audited_with_the_sequence_signature(data, tmp_path):
    summary = json.loads((data / "sequence/preprocessing.json").read_text())
    torch.manual_seed(3)
    model = build_model(model_settings(ModelSettings(architecture="transformer"), summary)).eval()
    file = export_torchscript(model, tmp_path / "transformer.pt")
    tagger = load_tagger(
        _audit(data, ExternalModel("set_based", str(file), layout="sequence"), "sequence") / "epoch_001.pt", CPU
    )
    x = load_split(data / "sequence/test.parquet", summary, CPU, with_movable=False).x[:300]
    with torch.no_grad():
        assert torch.equal(tagger(x), model(x))
    assert tagger.certifiable() is None  # no plain network: no certified bound, every attack still runs
    x.requires_grad_(True)
    tagger(x).sum().backward()
    assert x.grad.abs().sum() > 0


def _script(module: nn.Module, path: Path) -> str:
    torch.jit.save(torch.jit.script(module), str(path))
    return str(path)


@pytest.mark.parametrize(
    ("module", "changes", "message"),
    [
        (nn.Linear(128, 3), {}, r"does not take its declared flat inputs \(jets, 184\)"),
        (nn.Linear(184, 2), {}, r"returns \(16, 2\), not one row of 3 logits per jet"),
        (nn.Linear(184, 3), {"outputs": "probabilities"}, "declared to return probabilities, but its rows sum to"),
        (nn.Linear(184, 3), {"layout": "sequence"}, "reads sequence inputs, not flat"),
    ],
)
def test_a_model_that_does_not_match_its_declaration_is_refused(data, tmp_path, module, changes, message):
    declaration = ExternalModel("mismatched", _script(module, tmp_path / "model.pt"), **changes)
    with pytest.raises(ConfigError, match=message):
        _audit(data, declaration)
    assert not (data / "audit_mismatched").exists() or not any((data / "audit_mismatched").rglob("*.pt"))


def test_a_file_that_is_not_torchscript_is_refused_by_the_name_the_user_gave_it(data, tmp_path, monkeypatch):
    """A text file renamed .pt, declared with a relative path (as in a config, relative to the run's folder):
    the import rule's function names the model, its file as written, and what it expected; nothing is written."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports/tagger.pt").write_text("weights: see the wiki\n")
    declaration = ExternalModel("renamed_text", "exports/tagger.pt")
    with pytest.raises(ConfigError) as refused:
        _audit(data, declaration)
    message = str(refused.value)
    assert message.startswith("evaluation.external_models: model 'renamed_text' (file: exports/tagger.pt) is not ")
    assert "expected a program saved by torch.jit.save" in message
    assert "the checkpoint's program" not in message and str(tmp_path) not in message  # not an internal name
    assert not (data / "audit_renamed_text").exists()


def test_a_declaration_is_checked_before_anything_runs(tmp_path):
    assert ExternalModel("tagger", "model.onnx", inputs="raw").is_onnx
    with pytest.raises(ConfigError, match=r"model.h5 is neither TorchScript \(a file ending in .*\) nor ONNX"):
        ExternalModel("tagger", "model.h5")
    with pytest.raises(ConfigError, match="inputs 'standardised' is unknown; choose from"):
        ExternalModel("tagger", "model.onnx", inputs="standardised")
    with pytest.raises(ConfigError, match="classes must order"):
        ExternalModel("tagger", "model.pt", classes=("b", "c", "tau"))
    with pytest.raises(ConfigError, match="a name is"):
        ExternalModel("nominal", "model.pt")
    (tmp_path / "broken.pt").write_bytes(b"not a program")
    from robusttag.external import load_program

    with pytest.raises(ConfigError, match="not a TorchScript file"):
        load_program(tmp_path / "broken.pt", CPU)
