"""Compiled OpenVINO models from the disk cache, or converted once and kept there.

The embedder and the cross-encoder both go: `load_cached` (no torch: the IR, the Rust
tokenizer and meta.json from `ModelCache`) and, on a miss, convert with torch and
`keep` the result for every later start. `cache=None` keeps everything in memory, as
before the cache existed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import ConfigurationError
from bot.inference.fast_tokenizer import FastTokenizer
from bot.inference.model_cache import MODEL_XML, TOKENIZER_JSON, ModelCache
from bot.inference.precision import ResolvedPrecision
from bot.inference.runtime import OpenVinoModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportedModel:
    """A model traced to OpenVINO, its tokenizer, and what running it needs (JSON-able)."""

    graph: Any
    tokenizer: FastTokenizer
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReadyModel:
    model: OpenVinoModel
    tokenizer: FastTokenizer
    meta: dict[str, Any]


def cache_key(cache: ModelCache | None, kind: str, model_id: str, path: str) -> str | None:
    """The entry for a model, or None when it has no local folder to fingerprint."""
    if cache is None:
        return None
    folder = local_model_dir(path)
    return None if folder is None else cache.key(kind, model_id, folder)


def load_cached(
    cache: ModelCache | None,
    key: str | None,
    precision: ResolvedPrecision,
    max_length: int | None = None,
    *,
    threads: int | None = None,
    tokenizer: FastTokenizer | None = None,
) -> ReadyModel | None:
    """The cached model compiled at `precision`; None on a miss. A damaged entry is removed.

    The tokenizer truncates at `max_length`, or at the length stored with the model;
    `threads` caps the inference threads (default: every CPU). `tokenizer`: one already
    loaded from this entry (a second compiled copy of the model shares it).
    """
    if cache is None or key is None:
        return None
    entry = cache.load(key)
    if entry is None:
        return None
    try:
        model = OpenVinoModel.compile(
            entry.model_xml, precision, blob_cache=cache.compiled_dir, threads=threads
        )
        meta = entry.meta
        tokenizer = tokenizer or FastTokenizer.load(
            entry.tokenizer_json,
            max_length=int(meta["max_length"] if max_length is None else max_length),
            input_names=meta["input_names"],
            pad_id=int(meta["pad_id"]),
        )
    except (ConfigurationError, OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        logger.warning("model cache entry %s cannot be used (%s); rebuilding it", key, exc)
        cache.discard(key)
        return None
    return ReadyModel(model, tokenizer, meta)


def keep(
    cache: ModelCache | None, key: str | None, exported: ExportedModel, precision: ResolvedPrecision
) -> ReadyModel:
    """Store `exported` (when there is a cache) and compile it at `precision`."""
    meta = {
        **exported.meta,
        "input_names": list(exported.tokenizer.input_names),
        "pad_id": exported.tokenizer.pad_id,
    }
    if cache is not None and key is not None:
        entry = cache.store(key, lambda folder: _write(folder, exported, meta))
        if entry is not None:
            model = OpenVinoModel.compile(entry.model_xml, precision, blob_cache=cache.compiled_dir)
            return ReadyModel(model, exported.tokenizer, meta)
    return ReadyModel(OpenVinoModel.compile(exported.graph, precision), exported.tokenizer, meta)


def _write(folder: Path, exported: ExportedModel, meta: dict[str, Any]) -> dict[str, Any]:
    import openvino as ov

    # fp32 weights on disk (OpenVINO would halve them to fp16 by default): the precision
    # is chosen when compiling, and fp32 must reproduce the torch model.
    ov.save_model(exported.graph, str(folder / MODEL_XML), compress_to_fp16=False)
    exported.tokenizer.save(folder / TOKENIZER_JSON)
    return meta


def local_model_dir(path: str) -> Path | None:
    """The folder a model id or path loads from, when it is on this machine."""
    local = Path(path).expanduser()
    if local.is_dir():
        return local
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(path, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached locally (or not a hub id): no disk cache
        return None
