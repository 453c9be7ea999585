"""Where the local models' forward passes run: torch or OpenVINO, picked by config.

OpenVINO is the fast path on CPUs: its CPU plugin fuses attention, layer norm and GELU
and, at bf16, runs matrix products on AMX. On a 2-core Sapphire Rapids it scores 50
Zulip pairs with a MiniLM-L6 cross-encoder (max length 256) in ~0.33 s, against ~0.7 s
for torch bf16 and ~1.5 s for plain sentence-transformers fp32 (benchmarks/rerank.py).

A Hugging Face torch module is converted once by tracing (`trace_to_openvino`: torch
imported, a few seconds), kept on disk by `bot.inference.openvino_cache`, and compiled
(`OpenVinoModel.compile`) at each start without torch; the compiled model accepts any
batch size and sequence length.
"""

from __future__ import annotations

import importlib.util
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from bot.errors import ConfigurationError
from bot.inference.devices import available_cpus
from bot.inference.precision import ResolvedPrecision

if TYPE_CHECKING:
    import torch

RuntimeName = Literal["auto", "torch", "openvino"]
ResolvedRuntime = Literal["torch", "openvino"]
RUNTIMES: tuple[RuntimeName, ...] = ("auto", "torch", "openvino")
_HINTS = {"fp32": "f32", "bf16": "bf16"}


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def resolve_runtime(requested: str, device: str, precision: ResolvedPrecision) -> ResolvedRuntime:
    """`auto` → OpenVINO on CPU when it is installed (and no int8 was asked), else torch."""
    if requested not in RUNTIMES:
        raise ConfigurationError(f"runtime must be one of {RUNTIMES}, got {requested!r}")
    on_cpu = device.startswith("cpu")
    if requested == "openvino":
        if not on_cpu:
            raise ConfigurationError(
                f"the OpenVINO runtime runs on CPU here, not {device!r}; use runtime 'torch'"
            )
        if precision == "int8":
            raise ConfigurationError(
                "int8 is torch's dynamic quantisation; use runtime 'torch' with precision int8, "
                "or OpenVINO with precision auto/bf16/fp32"
            )
        if not openvino_installed():
            raise ConfigurationError(
                "runtime 'openvino' needs the openvino package: pip install openvino"
            )
        return "openvino"
    if requested == "auto" and on_cpu and precision != "int8" and openvino_installed():
        return "openvino"
    return "torch"


class OpenVinoModel:
    """A compiled OpenVINO model with one infer request; returns its first output."""

    def __init__(self, compiled: Any, input_names: list[str]) -> None:
        self._compiled = compiled
        self.input_names = input_names
        self._request = compiled.create_infer_request()
        self._lock = threading.Lock()

    @classmethod
    def compile(
        cls,
        source: Any,
        precision: ResolvedPrecision,
        *,
        blob_cache: Path | None = None,
        threads: int | None = None,
    ) -> OpenVinoModel:
        """Compile an OpenVINO model (in memory, or an IR file's path) for the CPU.

        `blob_cache` is OpenVINO's own cache of compiled blobs: from a warm one, an IR
        compiles in about half the time. `threads`: inference threads (default: every CPU).
        """
        if precision not in _HINTS:
            raise ConfigurationError(f"the OpenVINO runtime runs fp32 or bf16, not {precision}")
        import openvino as ov

        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": _HINTS[precision],
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": threads or available_cpus(),
        }
        if blob_cache is not None:
            config["CACHE_DIR"] = str(blob_cache)
        source = str(source) if isinstance(source, Path) else source
        try:
            compiled = ov.Core().compile_model(source, "CPU", config)
        except Exception as exc:  # a model the CPU plugin refuses: callers fall back to torch
            raise ConfigurationError(f"OpenVINO cannot compile this model: {exc}") from exc
        return cls(compiled, [port.get_any_name() for port in compiled.inputs])

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """The first output for a right-padded int64 batch, as a float32 array we own."""
        feed = {name: batch[name] for name in self.input_names}
        with self._lock:  # one infer request: it owns its output buffers
            result = self._request.infer(feed)
            return np.array(result[0], dtype=np.float32, copy=True)


def trace_to_openvino(model: torch.nn.Module, sample: dict[str, np.ndarray]) -> Any:
    """`model` as an OpenVINO graph, traced on `sample` (a small padded int64 batch).

    Needs torch (seconds to import, seconds to trace): `bot.inference.openvino_cache`
    keeps the result on disk. Raises ConfigurationError when the model cannot be
    converted, so callers can fall back to torch.
    """
    import openvino as ov
    import torch

    example = {key: torch.from_numpy(values) for key, values in sample.items()}
    try:
        with warnings.catch_warnings(), torch.inference_mode(False):
            # Tracing warns about Python-level branches on shapes; for an encoder with an
            # explicit attention mask they do not depend on the input.
            warnings.simplefilter("ignore")
            return ov.convert_model(model.eval(), example_input=example)
    except Exception as exc:  # any failure to convert means: use torch instead
        raise ConfigurationError(f"OpenVINO cannot convert this model: {exc}") from exc
