"""Turn a YOLOv8 detection checkpoint into an ONNX graph, in memory.

The graph is built from the layer records of :mod:`._yolo_checkpoint` with ``onnx.helper``
so the model runs on onnxruntime with no torch at all. BatchNorm is folded into the
preceding convolution (inference only). The graph stops before box decoding: it returns the
raw head output ``(1, 4 * reg_max + classes, anchors)`` with levels in stride order, and the
detector decodes only the few anchors that pass its score threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from anonymize.detect._yolo_checkpoint import TorchModule, YoloCheckpoint

__all__ = ["INPUT_NAME", "OUTPUT_NAME", "build_onnx"]

INPUT_NAME = "images"
OUTPUT_NAME = "raw"
_OPSET = 17


class _Graph:
    """Collects nodes and initializers with unique names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, array: np.ndarray) -> str:
        name = self.name(hint)
        self.weights.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], n_out: int = 1, **attrs) -> list[str]:
        outputs = [self.name(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outputs, **attrs))
        return outputs


def _conv2d(g: _Graph, x: str, conv: TorchModule, bn: TorchModule | None = None) -> str:
    weight = conv.params["weight"]
    bias = conv.params.get("bias", np.zeros(weight.shape[0], np.float32))
    if bn is not None:
        scale = bn.params["weight"] / np.sqrt(bn.params["running_var"] + bn.attrs["eps"])
        weight = weight * scale[:, None, None, None]
        bias = (bias - bn.params["running_mean"]) * scale + bn.params["bias"]
    a = conv.attrs
    pad_h, pad_w = a["padding"]
    return g.op(
        "Conv",
        [x, g.const("w", weight.astype(np.float32)), g.const("b", bias.astype(np.float32))],
        kernel_shape=list(a["kernel_size"]),
        strides=list(a["stride"]),
        pads=[pad_h, pad_w, pad_h, pad_w],
        dilations=list(a["dilation"]),
        group=a["groups"],
    )[0]


def _silu(g: _Graph, x: str) -> str:
    return g.op("Mul", [x, g.op("Sigmoid", [x])[0]])[0]


def _apply(g: _Graph, m: TorchModule, x: str) -> str:
    """Emit the nodes of one single-input module and return its output name."""
    c = m.children
    if m.kind == "Conv":
        y = _conv2d(g, x, c["conv"], c.get("bn"))
        return _silu(g, y) if c["act"].kind == "SiLU" else y
    if m.kind == "Conv2d":
        return _conv2d(g, x, m)
    if m.kind == "Sequential":
        for child in c.values():
            x = _apply(g, child, x)
        return x
    if m.kind == "Bottleneck":
        y = _apply(g, c["cv2"], _apply(g, c["cv1"], x))
        return g.op("Add", [x, y])[0] if m.attrs["add"] else y
    if m.kind == "C2f":
        half = m.attrs["c"]
        parts = g.op(
            "Split",
            [_apply(g, c["cv1"], x), g.const("split", np.array([half, half], np.int64))],
            n_out=2,
            axis=1,
        )
        for block in c["m"].children.values():
            parts.append(_apply(g, block, parts[-1]))
        return _apply(g, c["cv2"], g.op("Concat", parts, axis=1)[0])
    if m.kind == "SPPF":
        pooled = [_apply(g, c["cv1"], x)]
        for _ in range(3):
            pooled.append(_apply(g, c["m"], pooled[-1]))
        return _apply(g, c["cv2"], g.op("Concat", pooled, axis=1)[0])
    if m.kind == "MaxPool2d":
        k, s, p = m.attrs["kernel_size"], m.attrs["stride"], m.attrs["padding"]
        return g.op("MaxPool", [x], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4)[0]
    if m.kind == "Upsample":
        if m.attrs["mode"] != "nearest":
            raise ValueError(f"unsupported upsampling mode {m.attrs['mode']!r}")
        f = float(m.attrs["scale_factor"])
        scales = g.const("scales", np.array([1, 1, f, f], np.float32))
        return g.op(
            "Resize",
            [x, "", scales],
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )[0]
    raise ValueError(f"unsupported layer type {m.kind!r}")


def _detect_head(g: _Graph, m: TorchModule, inputs: list[str]) -> str:
    flat_shape = g.const("shape", np.array([1, m.attrs["no"], -1], np.int64))
    levels = []
    for x, box, cls in zip(
        inputs,
        m.children["cv2"].children.values(),
        m.children["cv3"].children.values(),
        strict=True,
    ):
        level = g.op("Concat", [_apply(g, box, x), _apply(g, cls, x)], axis=1)[0]
        levels.append(g.op("Reshape", [level, flat_shape])[0])
    return g.op("Concat", levels, axis=2)[0]


def build_onnx(checkpoint: YoloCheckpoint) -> bytes:
    """Serialise the network as an ONNX model taking ``(1, 3, H, W)`` RGB in [0, 1].

    H and W are free but must be multiples of the largest stride (32).
    """
    g = _Graph()
    outputs: list[str] = []
    x = INPUT_NAME
    for layer in checkpoint.layers:
        f = layer.attrs["f"]
        sources = [x if j == -1 else outputs[j] for j in ([f] if isinstance(f, int) else f)]
        if layer.kind == "Concat":
            x = g.op("Concat", sources, axis=layer.attrs["d"])[0]
        elif layer.kind == "Detect":
            x = _detect_head(g, layer, sources)
        else:
            x = _apply(g, layer, sources[0])
        outputs.append(x)
    if checkpoint.layers[-1].kind != "Detect":
        raise ValueError("the last layer of a YOLO detection model must be Detect")
    g.nodes.append(helper.make_node("Identity", [x], [OUTPUT_NAME]))
    graph = helper.make_graph(
        g.nodes,
        "yolov8_plates",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [1, None, None])],
        g.weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = 8  # readable by any onnxruntime from 1.10 on
    onnx.checker.check_model(model)
    return model.SerializeToString()
