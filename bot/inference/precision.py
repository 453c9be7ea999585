"""Reduced-precision execution for the local models (cross-encoder, embedder) on CPU.

On CPUs with native bfloat16 (Intel AMX / AVX512-BF16, AMD Zen 4) oneDNN runs bf16
matrix products many times faster than fp32, and a MiniLM's scores stay faithful
(Spearman ≥ 0.999 against fp32 on Zulip pairs, see benchmarks/README.md). `auto` picks
bf16 there and fp32 elsewhere. int8 dynamic quantisation (torch `quantize_dynamic` of
the Linear layers) is available on request; measure it first, it is less faithful.
"""

from __future__ import annotations

import functools
import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bot.errors import ConfigurationError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

Precision = Literal["auto", "fp32", "bf16", "int8"]
ResolvedPrecision = Literal["fp32", "bf16", "int8"]
PRECISIONS: tuple[Precision, ...] = ("auto", "fp32", "bf16", "int8")
_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags Linux reports; empty where /proc/cpuinfo is unavailable."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_has_native_bf16() -> bool:
    return bool(cpu_flags() & _BF16_FLAGS)


def resolve_precision(requested: str, device: str) -> ResolvedPrecision:
    """`auto` → bf16 on a CPU with native bf16, else fp32; accelerators keep fp32 unless asked."""
    if requested not in PRECISIONS:
        raise ConfigurationError(f"precision must be one of {PRECISIONS}, got {requested!r}")
    if requested == "int8" and not device.startswith("cpu"):
        raise ConfigurationError(
            f"int8 dynamic quantisation runs on CPU only, not {device!r}; use bf16 or fp32"
        )
    if requested == "auto":
        return "bf16" if device.startswith("cpu") and cpu_has_native_bf16() else "fp32"
    return requested


def apply_precision(module: torch.nn.Module, precision: ResolvedPrecision) -> torch.nn.Module:
    """Convert `module` for inference at `precision`; returns the module to use."""
    import torch

    if precision == "bf16":
        return module.to(torch.bfloat16)
    if precision == "int8":
        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():
            # torch deprecates eager-mode quantisation in favour of torchao; it still works.
            warnings.simplefilter("ignore", category=UserWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            return quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)
    return module
