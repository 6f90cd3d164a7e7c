"""Runs each network (faces, plates, text) on the fastest backend this CPU has.

Every model the tool uses is an ONNX graph read from an installed wheel. OpenVINO runs them
several times cheaper than onnxruntime on the same CPU, in bfloat16 where the processor has
native bf16 arithmetic (AVX-512 BF16 or AMX) and in float32 elsewhere; onnxruntime is the
fallback when OpenVINO is not installed or cannot compile a graph. ``backend`` forces one.
OpenVINO is loaded with its usage reporting made impossible (see :func:`_refuse_telemetry`).

Before either sees a graph, it is tidied once in memory (the wheel's file is never written):
weights that the file lists as graph inputs become plain constants (onnxruntime runs
CenterFace much faster then: docs/tuning.md, Runtime), and the image input is declared
``[N, C, H, W]`` with free sizes, so one loaded network serves every frame size.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Literal

import numpy as np
import onnx

from anonymize.background import together
from anonymize.errors import UserError

__all__ = [
    "BACKENDS",
    "Backend",
    "Engine",
    "Network",
    "RuntimeFailure",
    "Shape",
    "load",
    "load_tflite",
    "openvino_available",
]

Backend = Literal["auto", "openvino", "onnxruntime"]
Shape = tuple[int, ...]
Runner = Callable[[np.ndarray], list[np.ndarray]]
# Smaller inputs stay with the free-sized network: compiling a fixed copy (0.13-0.18 s) buys
# about 1 ms a run for them, and a copy per input size holds memory of its own.
_FIXED_MIN_PIXELS = 500_000
BACKENDS: tuple[Backend, ...] = ("auto", "openvino", "onnxruntime")


class RuntimeFailure(UserError, RuntimeError):
    """A forced backend (``--backend``) is missing or cannot run a network: the user's
    choice to change, so one line, not a traceback or an "internal error"."""


@dataclass(frozen=True)
class Engine:
    """What a network runs on: the backend and the precision of its arithmetic."""

    backend: str
    precision: str

    def __str__(self) -> str:
        return f"{self.backend} {self.precision}"


class Network:
    """One loaded network: an image batch in, its outputs out, in the graph's output order.

    Calls are serialised: the pipeline's threads may share a network, and neither backend's
    request objects may be used by two threads at once. A network loaded for every input
    size can also be compiled for a few fixed ones (:meth:`fix`).
    """

    def __init__(
        self,
        name: str,
        engine: Engine,
        run: Runner,
        fixed: Callable[[Shape], Runner] | None = None,
    ) -> None:
        self.name = name
        self.engine = engine
        self._run = run
        self._compile_fixed = fixed
        self._fixed: dict[Shape, Runner] = {}
        self._lock = threading.Lock()

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        blob = np.ascontiguousarray(blob, dtype=np.float32)
        with self._lock:
            return self._fixed.get(blob.shape, self._run)(blob)

    def fix(self, shapes: Iterable[Shape]) -> None:
        """Run inputs of exactly these ``shapes`` (those of at least ``_FIXED_MIN_PIXELS``) on
        copies compiled for them alone.

        For the passes over a video's frames, which all have one size: OpenVINO plans a
        fixed-size graph's work better than a free-sized one's, which re-plans whenever the
        size changes (CenterFace's 1024 and 2048 px passes on a 1080p keyframe: 12% less
        CPU, no more memory; docs/tuning.md, Runtime). Copies for shapes an earlier call
        fixed are kept if asked for again (a batch of same-sized videos compiles once) and
        let go if not; new copies compile at once, on threads of their own. On onnxruntime
        (where it was not measured), or where a shape cannot be compiled, the free-sized
        network keeps running those inputs.
        """
        if self._compile_fixed is None:
            return
        wanted = [
            s
            for s in dict.fromkeys(tuple(s) for s in shapes)
            if np.prod(s[2:]) >= _FIXED_MIN_PIXELS
        ]
        with self._lock:
            fixed = {s: self._fixed[s] for s in wanted if s in self._fixed}

            def compile_copy(shape: Shape) -> None:
                try:
                    fixed[shape] = self._compile_fixed(shape)
                except Exception:  # the free-sized copy still runs this shape, only slower
                    pass

            together(*(partial(compile_copy, s) for s in wanted if s not in fixed))
            self._fixed = {s: fixed[s] for s in wanted if s in fixed}


def load(model: onnx.ModelProto | bytes | Path, name: str, backend: Backend = "auto") -> Network:
    """Load ``model`` (a graph with one image input) on ``backend``.

    ``auto`` takes OpenVINO and falls back to onnxruntime when OpenVINO is missing or fails;
    a forced backend that fails raises :class:`RuntimeFailure`.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    graph = _tidied(model)
    if backend in ("auto", "openvino"):
        try:
            return _openvino(lambda core: core.read_model(model=graph, weights=b""), name)
        except Exception as err:  # missing wheel, unsupported op, compile failure
            if backend == "openvino":
                raise RuntimeFailure(f"OpenVINO cannot run the {name} network: {err}") from err
    try:
        return _onnxruntime(graph, name)
    except Exception as err:
        raise RuntimeFailure(f"onnxruntime cannot run the {name} network: {err}") from err


def load_tflite(path: Path, name: str, backend: Backend = "auto") -> Network:
    """Load a TensorFlow Lite network (MediaPipe's BlazeFace models) on OpenVINO, which reads
    the format itself. onnxruntime cannot: with it forced, or OpenVINO missing or failing,
    :class:`RuntimeFailure` tells the caller to run the model its own way.

    These networks see 128-192 px: on one thread they cost 30-40% less CPU than on two, for
    a fraction of a millisecond more wait (docs/tuning.md, Runtime)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if backend == "onnxruntime":
        raise RuntimeFailure(f"onnxruntime cannot read the {name} network (TensorFlow Lite)")
    try:
        return _openvino(lambda core: core.read_model(str(path)), name, threads=1)
    except Exception as err:
        raise RuntimeFailure(f"OpenVINO cannot run the {name} network: {err}") from err


def _threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _openvino(read: Callable, name: str, threads: int | None = None) -> Network:
    """``read(core)`` gives the OpenVINO model to compile; it runs on ``threads`` threads
    (by default one per core this process may use)."""
    core = _core()
    precision = "bf16" if "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "f32"
    model = read(core)
    config = {
        "INFERENCE_PRECISION_HINT": precision,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": threads or _threads(),
    }

    def compiled(model) -> Runner:
        network = core.compile_model(model, "CPU", config)
        request = network.create_infer_request()
        outputs = network.outputs

        def run(blob: np.ndarray) -> list[np.ndarray]:
            result = request.infer({0: blob})
            return [np.array(result[o]) for o in outputs]

        return run

    def fixed(shape: Shape) -> Runner:
        copy = model.clone()
        copy.reshape({0: list(shape)})
        return compiled(copy)

    engine = Engine("openvino", "bf16" if precision == "bf16" else "fp32")
    return Network(name, engine, compiled(model), fixed)


@cache
def _core():
    _refuse_telemetry()
    import openvino

    return openvino.Core()


def _refuse_telemetry() -> None:
    """Keep OpenVINO's usage reports from ever being sent.

    OpenVINO's package, on import, loads its model converter, which reports the import to an
    analytics service (and writes a client id under the home folder) unless the user has
    opted out. anonymize never converts models, and nothing may leave the machine: with both
    modules unimportable, OpenVINO skips its converter (it allows for it being absent) and
    its telemetry never loads.
    """
    for name in ("openvino_telemetry", "openvino.tools.ovc"):
        sys.modules.setdefault(name, None)


def openvino_available() -> bool:
    """Whether OpenVINO can be loaded here (imported the way this module imports it)."""
    try:
        _core()
    except Exception:
        return False
    return True


def _onnxruntime(graph: bytes, name: str) -> Network:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = _threads()
    options.inter_op_num_threads = 1
    # Idle workers would spin on cores the decoder and encoder threads need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # Input sizes change from pass to pass: an arena would keep the largest pass's buffers,
    # and more, for good (hundreds of MB at 1080p).
    options.enable_cpu_mem_arena = False
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0].name

    def run(blob: np.ndarray) -> list[np.ndarray]:
        return session.run(None, {feed: blob})

    return Network(name, Engine("onnxruntime", "fp32"), run)


def _tidied(model: onnx.ModelProto | bytes | Path) -> bytes:
    """The graph with its weights as constants and a free-sized ``[N, C, H, W]`` input."""
    if isinstance(model, Path):
        model = onnx.load_model(str(model))
    elif isinstance(model, bytes):
        model = onnx.load_model_from_string(model)
    graph = model.graph
    weights = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    if len(inputs) != 1:
        raise ValueError(f"expected one image input, found {len(inputs)}")
    del graph.input[:]
    graph.input.extend(inputs)
    _free_image_dims(graph.input[0].type.tensor_type.shape)  # extend() stored copies
    for output in graph.output:
        output.type.tensor_type.ClearField("shape")
    return model.SerializeToString()


def _free_image_dims(shape: onnx.TensorShapeProto) -> None:
    """Keep the channel count the graph declares; free batch, height and width."""
    dims: Sequence = shape.dim
    channels = dims[1].dim_value if len(dims) == 4 and dims[1].dim_value else 3
    shape.ClearField("dim")
    for value in ("batch", channels, "height", "width"):
        dim = shape.dim.add()
        if isinstance(value, int):
            dim.dim_value = value
        else:
            dim.dim_param = value
