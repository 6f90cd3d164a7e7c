"""Read an Ultralytics YOLO ``.pt`` checkpoint without torch or ultralytics.

A ``.pt`` file is a zip holding one pickle (the model object graph) and one file per tensor
storage. Unpickling it normally would import torch and ultralytics (hundreds of MB) and run
whatever code the pickle names. Instead a restricted unpickler allows only the names a YOLO
checkpoint uses, turns every torch/ultralytics module into a plain :class:`TorchModule`
record and rebuilds tensors from the raw storage bytes with numpy. Any other name aborts the
load, so a tampered file cannot execute code.
"""

from __future__ import annotations

import collections
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TorchModule", "YoloCheckpoint", "read_checkpoint"]

_STORAGE_DTYPES = {
    "HalfStorage": np.float16,
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "BoolStorage": np.bool_,
}
# Modules whose classes become inert records; their code is never imported.
_STUB_PREFIXES = ("ultralytics.", "torch.nn.", "omegaconf.")


@dataclass(frozen=True)
class TorchModule:
    """One ``torch.nn.Module`` from the checkpoint, reduced to data.

    ``kind`` is the class name (``"Conv2d"``, ``"C2f"``…), ``attrs`` its plain attributes
    (stride, padding, ``f`` for YOLO layer inputs…), ``params`` its parameters and buffers
    as float32 arrays, ``children`` its sub-modules in definition order.
    """

    kind: str
    attrs: Mapping[str, Any]
    params: Mapping[str, np.ndarray]
    children: Mapping[str, TorchModule]


@dataclass(frozen=True)
class YoloCheckpoint:
    """The layers of a YOLO detection model, in the order the network runs them."""

    layers: tuple[TorchModule, ...]
    names: Mapping[int, str]
    yaml: Mapping[str, Any]
    version: str


class _Stub:
    """Stands in for a torch/ultralytics class: records state, runs nothing."""

    _kind = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> _Stub:
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple, stride: tuple, *_: Any):
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * item for s in stride)
    )
    return np.array(view)


def _rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    return data


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, archive: zipfile.ZipFile, root: str) -> None:
        super().__init__(file)
        self._archive = archive
        self._root = root
        self._stubs: dict[str, type[_Stub]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name in ("OrderedDict", "defaultdict"):
            return getattr(collections, name)
        if module in ("builtins", "__builtin__") and name in ("set", "dict", "list", "tuple"):
            return {"set": set, "dict": dict, "list": list, "tuple": tuple}[name]
        if module == "typing" and name == "Any":
            return Any
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if module == "torch" and name == "Size":
            return tuple
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module.startswith(_STUB_PREFIXES):
            if name not in self._stubs:
                self._stubs[name] = type(name, (_Stub,), {"_kind": name})
            return self._stubs[name]
        raise pickle.UnpicklingError(f"checkpoint refers to {module}.{name}, which is not allowed")

    def persistent_load(self, pid: Any) -> np.ndarray:
        kind, dtype, key, _location, _numel = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        raw = self._archive.read(f"{self._root}/data/{key}")
        return np.frombuffer(raw, dtype=dtype)


def _to_module(stub: _Stub) -> TorchModule:
    state = stub.state
    params = {
        name: np.asarray(value, dtype=np.float32)
        for group in ("_parameters", "_buffers")
        for name, value in state.get(group, {}).items()
        if value is not None
    }
    children = {name: _to_module(child) for name, child in state.get("_modules", {}).items()}
    attrs = {k: v for k, v in state.items() if not k.startswith("_") and k != "training"}
    return TorchModule(type(stub)._kind, attrs, params, children)


def read_checkpoint(path: str | Path) -> YoloCheckpoint:
    """Load the YOLO model stored in ``path`` as plain numpy data."""
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ValueError(f"{path} is not a torch checkpoint (no single data.pkl)")
        root = pickles[0].rsplit("/", 1)[0]
        with archive.open(pickles[0]) as file:
            checkpoint = _Unpickler(file, archive, root).load()
    model = checkpoint.get("ema") or checkpoint["model"]
    if not isinstance(model, _Stub) or type(model)._kind != "DetectionModel":
        raise ValueError(f"{path} does not hold a YOLO DetectionModel")
    sequential = _to_module(model.state["_modules"]["model"])
    return YoloCheckpoint(
        layers=tuple(sequential.children.values()),
        names=dict(model.state["names"]),
        yaml=dict(model.state["yaml"]),
        version=str(checkpoint.get("version", "")),
    )
