"""Trained taggers exported with their preprocessing folded in: ONNX run by ONNX Runtime and TorchScript, on the
raw test jets, against the pipeline's probabilities."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pyarrow.parquet as pq
import pytest
import torch

import robusttag.export.models as export_models
from robusttag.architectures import build_model
from robusttag.config import ModelSettings, PreprocessSettings
from robusttag.errors import ResultsError
from robusttag.export.models import (
    PARITY_TOLERANCE,
    DeployedTagger,
    deployed_tagger,
    export_checkpoint,
    pipeline_probabilities,
)
from robusttag.external import plain_network
from robusttag.preprocess import deployed_inputs, first_test_jets, labels_of, preprocess, read_summary
from robusttag.sources.synthetic import generate
from robusttag.training import model_settings


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("export")
    pq.write_table(generate(3000, seed=12).to_arrow(), base / "raw.parquet")
    preprocess(base / "raw.parquet", base / "flat", PreprocessSettings(), rows_per_batch=1000)
    preprocess(base / "raw.parquet", base / "sequence", PreprocessSettings(layout="sequence", max_tracks=8))
    return base


@pytest.fixture(scope="module", params=["dnn", "deepsets", "transformer"])
def trained(request, data) -> tuple[Path, Path]:
    """(a checkpoint of a tagger as the training writes it, its preprocessing folder), per architecture: the
    initial weights (an export does not care how good they are)."""
    architecture = request.param
    folder = data / ("flat" if architecture == "dnn" else "sequence")
    shape = ModelSettings.from_dict({"architecture": architecture, "transformer": {"dim": 16, "blocks": 1}})
    torch.manual_seed(4)
    model = build_model(model_settings(shape, read_summary(folder / "preprocessing.json")))
    checkpoint = data / architecture / "epoch_001.pt"
    checkpoint.parent.mkdir()
    torch.save({"model": model.state_dict(), "model_settings": asdict(model.settings)}, checkpoint)
    return checkpoint, folder


def test_both_exports_give_the_pipelines_probabilities_on_the_raw_test_jets(data, trained, tmp_path):
    checkpoint, folder = trained
    summary = read_summary(folder / "preprocessing.json")
    onnx_file, script_file = tmp_path / "tagger.onnx", tmp_path / "tagger.pt"
    largest = export_checkpoint(checkpoint, summary, data / "raw.parquet", onnx_file, script_file, check_jets=400)
    assert largest <= PARITY_TOLERANCE
    # independently of the export's own check: the test split's preprocessed rows through the tagger
    batch = first_test_jets(data / "raw.parquet", summary, 400)
    test = pq.read_table(folder / "test.parquet").slice(0, 400)
    x = torch.from_numpy(np.stack([test.column(name).to_numpy() for name in summary["feature_order"]], 1))
    with torch.no_grad():
        expected = torch.softmax(deployed_tagger(checkpoint, summary).network(x), -1).numpy()
    assert np.array_equal(labels_of(batch.jets["flavor"]), test.column("label").to_numpy())  # the same jets
    np.testing.assert_allclose(pipeline_probabilities(checkpoint, batch, summary), expected, atol=1e-6)
    session = onnxruntime.InferenceSession(str(onnx_file))
    (given,) = session.get_inputs()
    assert given.name == "inputs" and given.shape == ["jets", len(summary["feature_order"])]
    inputs = deployed_inputs(batch, summary)
    assert np.isnan(inputs).any()  # empty track slots reach the graph as NaN
    np.testing.assert_allclose(session.run(["probabilities"], {"inputs": inputs})[0], expected, atol=PARITY_TOLERANCE)
    one_jet = session.run(["probabilities"], {"inputs": inputs[:1]})[0]  # the jets axis is dynamic
    np.testing.assert_allclose(one_jet, expected[:1], atol=PARITY_TOLERANCE)
    metadata = {p.key: p.value for p in onnx.load(str(onnx_file)).metadata_props}
    assert json.loads(metadata["feature_order"]) == summary["feature_order"]
    assert json.loads(metadata["classes"]) == ["b", "c", "light"]
    with torch.no_grad():
        scripted = torch.jit.load(str(script_file))(torch.from_numpy(inputs)).numpy()
    np.testing.assert_allclose(scripted, expected, atol=PARITY_TOLERANCE)


def test_a_default_below_the_threshold_is_replaced_as_the_preprocessing_does(data, tmp_path):
    """A value below a column's default, or infinite, is that default; an empty slot's NaN too."""
    summary = read_summary(data / "flat" / "preprocessing.json")
    n = len(summary["feature_order"])
    tagger = DeployedTagger(plain_network(build_model(ModelSettings(n_inputs=n))), summary).eval()
    defaults = torch.tensor([c["default"] for c in summary["features"]])
    genuine = deployed_inputs(first_test_jets(data / "raw.parquet", summary, 1), summary)
    base = torch.from_numpy(genuine)
    column = int(np.flatnonzero(np.isfinite(genuine[0]))[0])
    outputs = []
    for value in (np.nan, np.inf, -np.inf, float(defaults[column]) - 1.0, float(defaults[column])):
        x = base.clone()
        x[0, column] = value
        outputs.append(tagger(x))
    for other in outputs[1:]:
        assert torch.equal(other, outputs[0])


def test_an_export_that_disagrees_with_the_pipeline_is_refused_and_removed(data, trained, tmp_path, monkeypatch):
    checkpoint, folder = trained
    summary = read_summary(folder / "preprocessing.json")
    wrong = json.loads(json.dumps(summary))
    for column in wrong["features"]:  # the export's scaling is not the pipeline's
        column["mean"] += column["std"]
    monkeypatch.setattr(export_models, "deployed_tagger", lambda c, s: deployed_tagger(c, wrong))
    files = tmp_path / "t.onnx", tmp_path / "t.pt"
    with pytest.raises(ResultsError, match="differ from the pipeline's"):
        export_checkpoint(checkpoint, summary, data / "raw.parquet", *files, check_jets=300)
    assert not any(f.exists() for f in files)
