"""An ONNX graph run by torch, so that an audited ONNX tagger gives input gradients.

ONNX Runtime computes no input gradients, and the field's converter (onnx2torch) imports torchvision, which
does not install beside a CPU-only torch. So robusttag reads the graph itself: :class:`OnnxGraph` holds its
initializers as tensors and runs its nodes in order with torch operations, which autograd differentiates. It
reads the operators that the taggers of the field export to (MLPs, DeepSets, transformers: Gemm, MatMul,
Relu, Softmax, LayerNormalization, Transpose, Reshape, Where, ReduceSum/Mean, Concat, Gather, the
elementwise arithmetic and comparisons, and the shape operators around them: :data:`robusttag.config.ONNX_OPERATORS`),
at opsets 13 to 21; a graph with any other operator is refused before anything runs, naming the operator
and the file (:func:`robusttag.config.check_onnx_graph`, which the configuration's check runs too).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from .config import ONNX_OPERATORS, check_onnx_graph
from .errors import ConfigError

_DTYPES = {
    onnx.TensorProto.FLOAT: torch.float32,
    onnx.TensorProto.DOUBLE: torch.float64,
    onnx.TensorProto.FLOAT16: torch.float16,
    onnx.TensorProto.INT64: torch.int64,
    onnx.TensorProto.INT32: torch.int32,
    onnx.TensorProto.INT8: torch.int8,
    onnx.TensorProto.UINT8: torch.uint8,
    onnx.TensorProto.BOOL: torch.bool,
}


def _tensor(proto: onnx.TensorProto) -> torch.Tensor:
    return torch.from_numpy(np.array(numpy_helper.to_array(proto)))


def _ints(tensor: torch.Tensor | None) -> list[int] | None:
    return None if tensor is None else [int(v) for v in tensor.reshape(-1).tolist()]


def _gemm(a, b, c=None, *, alpha=1.0, beta=1.0, transA=0, transB=0):
    out = alpha * ((a.T if transA else a) @ (b.T if transB else b))
    return out if c is None else out + beta * c


def _reduce(function):
    def reduce(x, axes=None, *, keepdims=1, noop_with_empty_axes=0, axes_attribute=None):
        axes = _ints(axes) if axes is not None else axes_attribute
        if not axes:
            return x if noop_with_empty_axes else function(x, dim=tuple(range(x.dim())), keepdim=bool(keepdims))
        return function(x, dim=tuple(axes), keepdim=bool(keepdims))

    return reduce


def _reshape(x, shape, *, allowzero=0):
    shape = _ints(shape)
    if not allowzero:
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _gather(x, indices, *, axis=0):
    axis = axis % x.dim()
    flat = indices.reshape(-1).long()
    flat = torch.where(flat < 0, flat + x.shape[axis], flat)
    out = x.index_select(axis, flat)
    return out.reshape((*x.shape[:axis], *indices.shape, *x.shape[axis + 1 :]))


def _unsqueeze(x, axes):
    rank = x.dim() + len(_ints(axes))
    for axis in sorted(a % rank for a in _ints(axes)):
        x = x.unsqueeze(axis)
    return x


def _squeeze(x, axes=None):
    if axes is None:
        return x.squeeze()
    for axis in sorted((a % x.dim() for a in _ints(axes)), reverse=True):
        x = x.squeeze(axis)
    return x


def _slice(x, starts, ends, axes=None, steps=None):
    starts, ends = _ints(starts), _ints(ends)
    axes = _ints(axes) if axes is not None else list(range(len(starts)))
    steps = _ints(steps) if steps is not None else [1] * len(starts)
    index = [slice(None)] * x.dim()
    for start, end, axis, step in zip(starts, ends, axes, steps):
        if step < 0:
            raise ConfigError("an ONNX Slice with a negative step is not read here")
        size = x.shape[axis]
        index[axis] = slice(max(-size, min(start, size)), max(-size, min(end, size)), step)
    return x[tuple(index)]


def _layer_norm(x, scale, bias=None, *, axis=-1, epsilon=1e-5, stash_type=1):
    axis = axis % x.dim()
    return nn.functional.layer_norm(x, x.shape[axis:], scale, bias, epsilon)


def _divide(a, b):
    if a.is_floating_point() or b.is_floating_point():
        return a / b
    return torch.div(a, b, rounding_mode="trunc")


def _clip(x, low=None, high=None):
    return torch.clamp(x, None if low is None else low.item(), None if high is None else high.item())


def _is_inf(x, *, detect_negative=1, detect_positive=1):
    return (torch.isposinf(x) & bool(detect_positive)) | (torch.isneginf(x) & bool(detect_negative))


def _constant_of_shape(shape, *, value=None):
    fill = torch.zeros(1) if value is None else value
    return torch.full(_ints(shape), fill.reshape(-1)[0].item(), dtype=fill.dtype)


def _shape(x, *, start=0, end=None):
    return torch.tensor(x.shape[start:end], dtype=torch.int64)


#: operator -> function of (inputs..., **attributes)
OPERATORS: dict[str, Callable] = {
    "Identity": lambda x: x,
    "Constant": None,  # its value is an attribute: read at load time
    "Cast": lambda x, *, to, saturate=1: x.to(_DTYPES[to]),
    "Gemm": _gemm,
    "MatMul": torch.matmul,
    "Add": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "Div": _divide,
    "Pow": torch.pow,
    "Neg": torch.neg,
    "Sqrt": torch.sqrt,
    "Exp": torch.exp,
    "Log": torch.log,
    "Erf": torch.erf,
    "Relu": torch.relu,
    "Sigmoid": torch.sigmoid,
    "Tanh": torch.tanh,
    "Softmax": lambda x, *, axis=-1: torch.softmax(x, axis),
    "LogSoftmax": lambda x, *, axis=-1: torch.log_softmax(x, axis),
    "LayerNormalization": _layer_norm,
    "Clip": _clip,
    "Max": lambda *xs: torch.stack(torch.broadcast_tensors(*xs)).amax(0),
    "Min": lambda *xs: torch.stack(torch.broadcast_tensors(*xs)).amin(0),
    "ReduceSum": _reduce(torch.sum),
    "ReduceMean": _reduce(torch.mean),
    "ReduceMax": _reduce(torch.amax),
    "Transpose": lambda x, *, perm=None: x.permute(*(perm or reversed(range(x.dim())))),
    "Reshape": _reshape,
    "Flatten": lambda x, *, axis=1: x.reshape(int(np.prod(x.shape[:axis])), -1),
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": lambda *xs, axis: torch.cat(xs, axis),
    "Gather": _gather,
    "Slice": _slice,
    "Shape": _shape,
    "Expand": lambda x, shape: torch.broadcast_to(x, torch.broadcast_shapes(x.shape, tuple(_ints(shape)))),
    "ConstantOfShape": _constant_of_shape,
    "Where": torch.where,
    "Equal": torch.eq,
    "Less": torch.lt,
    "LessOrEqual": torch.le,
    "Greater": torch.gt,
    "GreaterOrEqual": torch.ge,
    "Not": torch.logical_not,
    "And": torch.logical_and,
    "Or": torch.logical_or,
    "IsNaN": torch.isnan,
    "IsInf": _is_inf,
}
assert set(OPERATORS) == ONNX_OPERATORS, "the operators run here are the ones the configuration check accepts"


def _attributes(node: onnx.NodeProto) -> dict:
    """A node's attributes as Python values (tensors as torch tensors)."""
    out = {}
    for attribute in node.attribute:
        value = onnx.helper.get_attribute_value(attribute)
        if isinstance(value, onnx.TensorProto):
            value = _tensor(value)
        elif isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list | tuple):
            value = list(value)
        out[attribute.name] = value
    if node.op_type in ("ReduceSum", "ReduceMean", "ReduceMax") and "axes" in out:  # before opset 13 / 18
        out["axes_attribute"] = out.pop("axes")
    return out


def _constant(node: onnx.NodeProto, where: str) -> torch.Tensor:
    attributes = _attributes(node)
    if "value" in attributes:
        return attributes["value"]
    for key, dtype in (("value_float", torch.float32), ("value_int", torch.int64)):
        if key in attributes:
            return torch.tensor(attributes[key], dtype=dtype)
    for key, dtype in (("value_floats", torch.float32), ("value_ints", torch.int64)):
        if key in attributes:
            return torch.tensor(attributes[key], dtype=dtype)
    raise ConfigError(f"{where}: Constant node '{node.name}' has none of the values read here ({sorted(attributes)})")


class OnnxGraph(nn.Module):
    """An ONNX model as a torch module: its graph inputs (those that are no initializer) as positional
    arguments, its first output returned.
    """

    def __init__(self, model: onnx.ModelProto, where: str) -> None:
        super().__init__()
        check_onnx_graph(model, where)
        graph = model.graph
        for index, initializer in enumerate(graph.initializer):
            self.register_buffer(f"initializer_{index}", _tensor(initializer))
        self.initializers = [initializer.name for initializer in graph.initializer]
        self.inputs = [i.name for i in graph.input if i.name not in set(self.initializers)]
        self.output = graph.output[0].name
        self.constants: dict[str, torch.Tensor] = {}
        self.nodes = []
        for node in graph.node:
            if node.op_type == "Constant":
                self.constants[node.output[0]] = _constant(node, where)
            else:
                self.nodes.append((node.op_type, list(node.input), list(node.output), _attributes(node)))

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        values = dict(zip(self.initializers, self.buffers())) | self.constants | dict(zip(self.inputs, inputs))
        values[""] = None  # an optional input left out
        for op_type, names, outputs, attributes in self.nodes:
            result = OPERATORS[op_type](*(values[name] for name in names), **attributes)
            values[outputs[0]] = result
        return values[self.output]


def load_onnx(data: bytes | str | os.PathLike, where: str | None = None) -> OnnxGraph:
    """An ONNX file (or its bytes) as an :class:`OnnxGraph`.

    Raises
    ------
    ConfigError
        When it is not an ONNX model or holds what :func:`robusttag.config.check_onnx_graph` refuses.
    """
    where = where or ("an ONNX model given as bytes" if isinstance(data, bytes) else str(data))
    try:
        model = onnx.load_from_string(data) if isinstance(data, bytes) else onnx.load(str(data))
    except Exception as error:  # protobuf's DecodeError and friends
        raise ConfigError(f"{where} is not an ONNX model: {error}") from error
    return OnnxGraph(model, where).eval()
