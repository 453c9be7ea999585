"""Where a cross-encoder's forward pass runs: torch or OpenVINO, picked by config.

The reranker tokenises, sorts and pads; a runtime only turns a padded batch of token
ids into one relevance logit per row. Both runtimes start from the same Hugging Face
sequence-classification module that sentence-transformers loaded, so they score the
same model.

OpenVINO is the fast path on CPUs: on a 2-core Sapphire Rapids it scores 50 Zulip
pairs (max length 256) in ~0.33 s at bf16 against ~0.6 s for torch bf16 and ~1.5 s for
plain sentence-transformers fp32 (benchmarks/rerank.py).
"""

from __future__ import annotations

import importlib.util
import logging
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from bot.errors import ConfigurationError
from bot.precision import ResolvedPrecision

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

RuntimeName = Literal["auto", "torch", "openvino"]
ResolvedRuntime = Literal["torch", "openvino"]
RUNTIMES: tuple[RuntimeName, ...] = ("auto", "torch", "openvino")


class EncoderRuntime(Protocol):
    batch_token_budget: int
    """Padded tokens (rows × longest row) per forward pass that run fastest here."""

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """One fp32 logit per row of a right-padded int64 batch."""
        ...


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


def load_runtime(
    runtime: ResolvedRuntime,
    model: torch.nn.Module,
    precision: ResolvedPrecision,
    device: str,
    sample: dict[str, np.ndarray],
) -> EncoderRuntime:
    """Build the runtime around `model`; `sample` is a small padded batch used for tracing."""
    if runtime == "openvino":
        from bot.rerank.openvino_runtime import OpenVinoRuntime

        return OpenVinoRuntime.convert(model, precision, sample)
    from bot.rerank.torch_runtime import TorchRuntime

    return TorchRuntime.prepare(model, precision, device)
