"""OpenVINO as the runtime of the ONNX export: the same graph, faster on CPU.

On a CPU with bf16 matrix units (Intel AMX or AVX512-BF16) OpenVINO runs the fp32 graph in
bf16 by default. On this project's 2-core machine (bench/speed.py) that embedded 349 chunks/s
against 93 for ONNX Runtime fp32, with vectors at cosine >= 0.9999 to fp32 (mean 0.99999): inside
the tolerance the export itself is held to against sentence-transformers, so the vectors keep the
preset's name and share its embedding cache and slots. A CPU without those units runs f32 (119
chunks/s here, held to f32).

Each (OpenVINO version, precision, export) is checked once against ONNX Runtime on probe texts,
and the verdict is kept beside the export (`verdict_path`); compiled kernels are cached there too,
which about halves start-up for a one-query `quarry search` (0.18 s instead of 0.33 s to load and
answer, timed by hand once).

`import openvino` also imports its model converter, which sends a usage event to Google Analytics
from a forked process unless the user has opted out. codequarry needs only the runtime, and imports
OpenVINO with the converter and that telemetry package hidden (`openvino/__init__` skips a converter
that does not import): nothing leaves the machine, nothing forks beside the threads of a running
index, and the import is 35 ms shorter. (In that process `openvino.convert_model` is then absent.)
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np

from codequarry.errors import ModelUnavailableError, require

# The export's own bar against sentence-transformers (onnx_backend._check).
MIN_COSINE = 0.9999


# What `import openvino` must not import: the model converter and the telemetry it sends.
_HIDDEN = ("openvino.tools.ovc", "openvino_telemetry")


def import_openvino():
    """The `openvino` module, imported without its converter and usage telemetry (module docstring)."""
    if sys.modules.get("openvino") is not None:
        return sys.modules["openvino"]
    hidden = [name for name in _HIDDEN if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # importing it now raises ImportError
    try:
        return require("openvino", "openvino")
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


class OpenVinoRun:
    """A compiled ONNX graph: `run(feeds)` gives the last hidden state. Safe on several threads
    (one infer request per thread), like an ONNX Runtime session."""

    def __init__(self, path: Path, threads: int, precision: str | None = None) -> None:
        """`precision` ("f32", "bf16") overrides OpenVINO's choice for the CPU; bench/speed.py times f32."""
        ov = import_openvino()
        from codequarry.embed.onnx_backend import one_line

        self.version = ov.__version__.split("-")[0]
        core = ov.Core()
        config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
        if precision:
            config["INFERENCE_PRECISION_HINT"] = precision
        try:
            core.set_property({"CACHE_DIR": str(path.parent / "openvino-cache")})
            self.compiled = core.compile_model(str(path), "CPU", config)
        except Exception:  # noqa: BLE001 — a cache it cannot write only costs start-up; try without
            try:
                self.compiled = ov.Core().compile_model(str(path), "CPU", config)
            except Exception as exc:
                raise ModelUnavailableError(
                    f"OpenVINO cannot run {path} ({one_line(exc)}); use QUARRY_BACKEND=onnx"
                ) from exc
        self.inputs = [port.any_name for port in self.compiled.inputs]
        self.dim = int(self.compiled.outputs[0].get_partial_shape()[-1].get_length())
        self.precision = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self.engine = f"openvino {self.precision}"
        self._local = threading.local()

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        # The result is a view of the request's buffer, which the next call overwrites.
        return np.array(request.infer({k: feeds[k] for k in self.inputs})[0])

    def verdict_path(self, export: Path) -> Path:
        return export.parent / f"openvino-{self.version}-{self.precision}-{export.stem}.json"
