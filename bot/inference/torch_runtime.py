"""TorchRuntime: the cross-encoder's forward pass in torch, at fp32, bf16 or int8.

bf16 converts the encoder but keeps the pooler and classification head in fp32, so
close scores do not collapse into bf16 ties. int8 is torch dynamic quantisation of the
Linear layers (see `bot.inference.precision`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from bot.inference.precision import ResolvedPrecision, apply_precision

if TYPE_CHECKING:
    import torch


class TorchRuntime:
    # On AMX, one big matrix beats trimming padding: 50 × 256 tokens go in one batch.
    batch_token_budget = 16384

    def __init__(self, model: torch.nn.Module, device: str) -> None:
        self.model = model
        self.device = device

    @classmethod
    def prepare(
        cls, model: torch.nn.Module, precision: ResolvedPrecision, device: str
    ) -> TorchRuntime:
        import torch

        model = apply_precision(model.eval(), precision)
        if precision == "bf16":
            for head in head_modules(model):
                head.to(torch.float32)
                head.register_forward_pre_hook(_inputs_to_fp32)
        return cls(model, device)

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        inputs = {key: torch.from_numpy(values).to(self.device) for key, values in batch.items()}
        with torch.inference_mode():
            output = self.model(**inputs).logits.float()
        return output.reshape(-1).cpu().numpy()


def head_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The sequence-classification head (and the base model's pooler, where there is one)."""
    heads = []
    for name in ("classifier", "score", "pooler"):
        module = getattr(model, name, None)
        if module is not None:
            heads.append(module)
    base = getattr(model, "base_model", None)
    pooler = getattr(base, "pooler", None) if base is not None and base is not model else None
    if pooler is not None:
        heads.append(pooler)
    return heads


def _inputs_to_fp32(_module: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    import torch

    return tuple(
        arg.float() if isinstance(arg, torch.Tensor) and arg.is_floating_point() else arg
        for arg in args
    )
