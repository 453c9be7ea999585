"""Encoding one search question: the one-thread copy against the all-core model, interleaved.

    SUPPORTBOT_DATA_DIR=DIR .venv/bin/python -m benchmarks.query_encoding QUESTIONS \\
        [--limit N] [--fp32]

The embedder's two compiled OpenVINO models (what `SUPPORTBOT_EMBEDDING_QUERY_BUSY_LOAD`
chooses between, per query, from the load average) encode each question in turn,
alternating which goes first; prints wall and process-CPU p50 / p95 per arm, the
tokeniser's share, the word-piece lengths and the load average, and checks that the
arms give the same vectors. `--fp32` adds both at fp32 (not what an index built at bf16
is queried with: a measure of what precision costs, with its largest difference).
Needs the model cache of an earlier start (`DIR/models`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from bot.embedding.sentence_transformer import resolve_model_path
from bot.evaluation.questions import load_queries
from bot.inference.devices import available_cpus
from bot.inference.model_cache import ModelCache
from bot.inference.openvino_cache import cache_key, load_cached
from bot.inference.openvino_encoder import OpenVinoSentenceEncoder
from bot.inference.precision import ResolvedPrecision, resolve_precision
from bot.settings import Settings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share + 0.5) - 1)]


def compiled(
    settings: Settings, precision: ResolvedPrecision, threads: int
) -> OpenVinoSentenceEncoder:
    """The embedder's cached OpenVINO model compiled at `precision` with `threads`."""
    cache = ModelCache(settings.model_cache_path)
    path = resolve_model_path(settings.embedding_model)
    key = cache_key(cache, "embedder", settings.embedding_model, path)
    ready = load_cached(cache, key, precision, threads=threads)
    if ready is None:
        raise SystemExit(f"no cached embedder in {settings.model_cache_path}: start the bot once")
    return OpenVinoSentenceEncoder.from_ready(ready, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument("--fp32", action="store_true", help="also both models at fp32")
    args = parser.parse_args()
    settings = Settings()
    questions = [q.query for q in load_queries(args.questions)[: args.limit]]
    precision = resolve_precision(settings.embedding_precision, "cpu")
    cpus = available_cpus()
    arms = {
        f"{precision}, 1 thread": compiled(settings, precision, 1),
        f"{precision}, {cpus} threads": compiled(settings, precision, cpus),
    }
    if args.fp32:
        arms["fp32, 1 thread"] = compiled(settings, "fp32", 1)
        arms[f"fp32, {cpus} threads"] = compiled(settings, "fp32", cpus)
    names = list(arms)
    for encoder in arms.values():  # first calls allocate
        for question in questions[:10]:
            encoder.encode([question], with_tokens=True)
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    worst: dict[str, float] = {name: 0.0 for name in names}
    loads: list[float] = []
    tokenizer = arms[names[0]].tokenizer
    tokenize_ms: list[float] = []
    lengths: list[int] = []
    for i, question in enumerate(questions):
        started = time.perf_counter()
        lengths.append(len(tokenizer.encode([question])["input_ids"][0]))
        tokenize_ms.append((time.perf_counter() - started) * 1000)
        reference, (reference_tokens,) = arms[names[0]].encode([question], with_tokens=True)
        for name in names[i % len(names) :] + names[: i % len(names)]:
            started, cpu_started = time.perf_counter(), time.process_time()
            vectors, (tokens,) = arms[name].encode([question], with_tokens=True)
            wall[name].append((time.perf_counter() - started) * 1000)
            cpu[name].append((time.process_time() - cpu_started) * 1000)
            difference = max(
                np.abs(vectors - reference).max(), np.abs(tokens - reference_tokens).max()
            )
            worst[name] = max(worst[name], float(difference))
        loads.append(os.getloadavg()[0])
    print(
        f"{len(questions)} questions, {statistics.median(lengths):.0f} word pieces p50 "
        f"({min(lengths)}-{max(lengths)}); tokenising p50 {statistics.median(tokenize_ms):.2f} ms; "
        f"load average (1 min) {min(loads):.1f}-{max(loads):.1f}, median "
        f"{statistics.median(loads):.1f}; {cpus} CPUs"
    )
    for name in names:
        print(
            f"  {name:<18} wall p50 {statistics.median(wall[name]):6.2f} p95 "
            f"{percentile(wall[name], 0.95):6.2f} ms   CPU p50 {statistics.median(cpu[name]):6.2f}"
            f" ms   largest difference from {names[0]}: {worst[name]:.1e}"
        )


if __name__ == "__main__":
    main()
