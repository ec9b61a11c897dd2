"""robusttag's reader of ONNX graphs: the same outputs as ONNX Runtime, the same input gradients as the torch
model exported, and a clear refusal of what it cannot run."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnx import TensorProto, helper

from robusttag.architectures import build_model
from robusttag.config import ModelSettings
from robusttag.errors import ConfigError
from robusttag.export.models import DeployedTagger, write_onnx
from robusttag.external import plain_network
from robusttag.features import InputLayout
from robusttag.onnx_graph import load_onnx

SEQUENCE = InputLayout("sequence", 16 + 8 * 29, 16, 8, 29)


def _exported(architecture: str, path) -> tuple[DeployedTagger, int]:
    """A randomly initialised tagger behind a preprocessing of its own, exported to ONNX."""
    layout = InputLayout() if architecture == "dnn" else SEQUENCE
    torch.manual_seed(2)
    settings = ModelSettings.from_dict(
        {"architecture": architecture, "n_inputs": layout.n_inputs, "transformer": {"dim": 16, "blocks": 1}}
    )
    model = build_model(
        settings
        if architecture == "dnn"
        else ModelSettings(
            architecture=architecture, n_inputs=layout.n_inputs, layout=layout, transformer=settings.transformer
        )
    ).eval()
    rng = np.random.default_rng(0)
    columns = [
        {"default": float(d), "mean": float(m), "std": float(s)}
        for d, m, s in zip(
            rng.normal(-3, 0.1, layout.n_inputs),
            rng.normal(0, 1, layout.n_inputs),
            rng.uniform(0.5, 2, layout.n_inputs),
        )
    ]
    if architecture != "dnn":  # the padding mask: raw 0 or 1, unscaled
        for slot in range(8):
            columns[16 + slot * 29 + 28] = {"default": 0.0, "mean": 0.0, "std": 1.0}
    summary = {"features": columns, "feature_order": [f"x{i}" for i in range(layout.n_inputs)]}
    tagger = DeployedTagger(plain_network(model) if architecture == "dnn" else model, summary).eval()
    write_onnx(tagger, summary, path)
    return tagger, layout.n_inputs


def _jets(n_inputs: int, architecture: str) -> torch.Tensor:
    x = torch.randn(60, n_inputs, generator=torch.Generator().manual_seed(1))
    x[:10, 5] = float("nan")  # an empty slot's input
    x[10:20, 7] = -50.0  # below its default
    if architecture != "dnn":
        x[:, 16 + 28 :: 29] = (torch.rand(60, 8, generator=torch.Generator().manual_seed(2)) < 0.6).float()
    return x


@pytest.mark.parametrize("architecture", ["dnn", "deepsets", "transformer"])
def test_an_exported_tagger_runs_as_in_onnx_runtime_with_the_torch_models_gradients(architecture, tmp_path):
    tagger, n_inputs = _exported(architecture, tmp_path / "tagger.onnx")
    graph = load_onnx(tmp_path / "tagger.onnx")
    x = _jets(n_inputs, architecture)
    reference = onnxruntime.InferenceSession(str(tmp_path / "tagger.onnx")).run(None, {"inputs": x.numpy()})[0]
    read, original = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out = graph(read)
    np.testing.assert_allclose(out.detach().numpy(), reference, rtol=0, atol=1e-6)
    weights = torch.tensor([1.0, -2.0, 0.5])
    (out * weights).sum().backward()
    (tagger(original) * weights).sum().backward()
    assert read.grad.abs().sum() > 0
    torch.testing.assert_close(read.grad, original.grad, rtol=1e-4, atol=1e-6)


def _model(op: str, opset: int = 17, domain: str = "") -> onnx.ModelProto:
    node = helper.make_node(op, ["x"], ["y"], name="suspect", domain=domain)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_an_operator_outside_the_set_is_refused_naming_it_and_the_file(tmp_path):
    onnx.save(_model("Trilu"), tmp_path / "tagger.onnx")
    with pytest.raises(
        ConfigError,
        match=r"tagger.onnx: ONNX operator Trilu \(node 'suspect'\) is not one robusttag runs; it reads \[.*'Gemm'",
    ):
        load_onnx(tmp_path / "tagger.onnx")
    onnx.save(_model("Relu", opset=11), tmp_path / "old.onnx")
    with pytest.raises(ConfigError, match="old.onnx: ONNX opset 11; robusttag reads opsets 13 to 21"):
        load_onnx(tmp_path / "old.onnx")
    (tmp_path / "text.onnx").write_text("not a model")
    with pytest.raises(ConfigError, match="text.onnx is not an ONNX model"):
        load_onnx(tmp_path / "text.onnx")
    onnx.save(_model("Relu"), tmp_path / "relu.onnx")
    assert torch.equal(
        load_onnx(tmp_path / "relu.onnx")(torch.tensor([[-1.0, 0.0, 2.0]])), torch.tensor([[0.0, 0.0, 2.0]])
    )
