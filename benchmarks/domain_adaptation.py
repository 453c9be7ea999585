"""Self-supervised in-domain adaptation of the embedding model on a KB's own chunks (issue 11).

No questions and no labels are used for training: pseudo-queries are cut from the knowledge
base itself, as in the Inverse Cloze Task (Lee et al., 2019) and title/heading → body
pseudo-queries (GPL-style, without a query generator):

- article title → a chunk's text (title left out of the passage),
- "title › heading path" → that section's chunk text,
- one sentence of a chunk (ICT) → the rest of the chunk, title kept as it is embedded
  (the sentence stays in the passage 10 % of the time, as in ICT).

The bi-encoder is trained with sentence-transformers' MultipleNegativesRankingLoss (in-batch
negatives; no two pairs in a batch share a query or a passage), one epoch or a time budget,
seeded. The late-interaction reranker reads the same model's token vectors, so one adapted
model changes dense, rerank and answerability together.

    # 1. train on the ingested KB in BASE (the model is written outside the repo)
    SUPPORTBOT_DATA_DIR=BASE .venv/bin/python -m benchmarks.domain_adaptation \\
        train zulip /tmp/zulip-adapted-minilm [--seed 0] [--batch 32] [--max-seconds 300]
    # 2. ingest + eval with the adapted model in a second data dir ADAPTED
    SUPPORTBOT_DATA_DIR=ADAPTED SUPPORTBOT_EMBEDDING_MODEL=/tmp/zulip-adapted-minilm \\
        SUPPORTBOT_RERANKER=late-interaction supportbot ingest ... / supportbot eval ...
    # 2b. the adapted first stage with the packaged model's late-interaction rerank
    .venv/bin/python -m benchmarks.domain_adaptation mixed zulip QUESTIONS \\
        --base-dir BASE --adapted-dir ADAPTED --model /tmp/zulip-adapted-minilm --out MIXED.json
    # 3. paired out-of-fold comparison of the two eval caches (same questions, same folds)
    .venv/bin/python -m benchmarks.domain_adaptation compare \\
        BASE/eval-cache/records-*.json ADAPTED/eval-cache/records-*.json [--seeds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.domain import HEADING_SEPARATOR
from bot.evaluation.bootstrap import bootstrap_mean, paired_difference
from bot.evaluation.cv_run import cross_validate_pipelines
from bot.evaluation.records import load_records
from bot.retrieval.embedded.sqlite_db import DB_FILENAME
from bot.settings import Settings

SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
MIN_QUERY_WORDS = 4
KEEP_SENTENCE_SHARE = 0.1
ESTIMATE_AFTER_STEPS = 3


@dataclass(frozen=True)
class StoredChunk:
    title: str
    heading_path: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Pair:
    kind: str
    query: str
    passage: str


def live_chunks(data_dir: Path, kb: str) -> list[StoredChunk]:
    """The chunks of `kb`'s live index in the embedded backend's SQLite file."""
    with sqlite3.connect(f"file:{data_dir / DB_FILENAME}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT c.title, c.heading_path, c.text FROM chunks c JOIN indexes i "
            "ON c.index_id = i.index_id WHERE i.kb = ? AND i.state = 'live' "
            "ORDER BY c.source_id, c.ordinal",
            (kb,),
        ).fetchall()
    return [StoredChunk(title, tuple(json.loads(path)), text) for title, path, text in rows]


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text) if s.strip()]


def pseudo_pairs(chunks: Sequence[StoredChunk], rng: random.Random) -> list[Pair]:
    """Title, heading-path and ICT pairs from the KB's own text."""
    pairs: list[Pair] = []
    for chunk in chunks:
        pairs.append(Pair("title", chunk.title, chunk.text))
        if chunk.heading_path:
            label = HEADING_SEPARATOR.join((chunk.title, *chunk.heading_path))
            pairs.append(Pair("heading", label, chunk.text))
        parts = sentences(chunk.text)
        candidates = [i for i, s in enumerate(parts) if len(s.split()) >= MIN_QUERY_WORDS]
        if len(parts) >= 2 and candidates:
            picked = rng.choice(candidates)
            keep = rng.random() < KEEP_SENTENCE_SHARE
            rest = parts if keep else parts[:picked] + parts[picked + 1 :]
            pairs.append(Pair("ict", parts[picked], f"{chunk.title}\n\n{' '.join(rest)}"))
    return pairs


def distinct_batches(pairs: Sequence[Pair], size: int, rng: random.Random) -> list[list[Pair]]:
    """Shuffled batches in which no query and no passage repeats (they would be false
    in-batch negatives); a pair that clashes waits for a later batch."""
    waiting = list(pairs)
    rng.shuffle(waiting)
    batches: list[list[Pair]] = []
    while waiting:
        batch: list[Pair] = []
        seen: set[str] = set()
        left: list[Pair] = []
        for pair in waiting:
            if len(batch) < size and pair.query not in seen and pair.passage not in seen:
                batch.append(pair)
                seen.update((pair.query, pair.passage))
            else:
                left.append(pair)
        if len(batch) < 2:
            break
        batches.append(batch)
        waiting = left
    return batches


def train(args: argparse.Namespace) -> None:
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.losses import MultipleNegativesRankingLoss

    from bot.embedding.sentence_transformer import resolve_model_path

    settings = Settings()
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    chunks = live_chunks(settings.data_dir, args.kb)
    pairs = pseudo_pairs(chunks, rng)
    batches = distinct_batches(pairs, args.batch, rng)
    kinds = {kind: sum(p.kind == kind for p in pairs) for kind in ("title", "heading", "ict")}
    print(f"{len(chunks)} chunks -> {len(pairs)} pairs {kinds}, {len(batches)} batches")

    model = SentenceTransformer(resolve_model_path(settings.embedding_model), device="cpu")
    model.max_seq_length = args.max_seq_length
    prepare = getattr(model, "preprocess", None) or model.tokenize  # renamed in v5+
    loss = MultipleNegativesRankingLoss(model, scale=args.scale)
    if args.freeze_word_embeddings:
        for name, weights in model.named_parameters():
            weights.requires_grad_("word_embeddings" not in name)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.01)
    plan = {"steps": len(batches)}
    """Steps that fit the time budget: re-estimated after the first few steps."""

    def linear_warmup_decay(step: int) -> float:
        steps = plan["steps"]
        warmup = max(1, steps // 10)
        return min((step + 1) / warmup, max(0.0, (steps - step) / max(1, steps - warmup)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_warmup_decay)
    model.train()
    started = time.perf_counter()
    losses: list[float] = []
    columns = (*Progress.get_default_columns()[:2], MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, BarColumn()) as progress:
        task = progress.add_task("training", total=len(batches))
        for step, batch in enumerate(batches):
            if step >= plan["steps"]:
                break
            features = [
                prepare([p.query for p in batch]),
                prepare([p.passage for p in batch]),
            ]
            value = loss(features, torch.empty(0))
            optimizer.zero_grad()
            value.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            schedule.step()
            losses.append(float(value.detach()))
            if step == ESTIMATE_AFTER_STEPS - 1:
                per_step = (time.perf_counter() - started) / ESTIMATE_AFTER_STEPS
                plan["steps"] = min(len(batches), max(step + 1, int(args.max_seconds / per_step)))
                progress.update(task, total=plan["steps"])
            progress.update(task, advance=1, description=f"loss {np.mean(losses[-20:]):.3f}")
    model.eval()
    elapsed = time.perf_counter() - started
    out = Path(args.model_out)
    model.save(str(out))
    print(
        f"{len(losses)} of {len(batches)} steps in {elapsed:.0f} s; loss first 10 "
        f"{np.mean(losses[:10]):.3f}, last 10 {np.mean(losses[-10:]):.3f}; saved to {out}"
    )


def compare(args: argparse.Namespace) -> None:
    base, adapted = load_records(Path(args.base)), load_records(Path(args.adapted))
    if [r.id for r in base] != [r.id for r in adapted]:
        raise SystemExit("the two record files hold different questions; eval the same file")
    settings = Settings()
    per_seed: dict[str, list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]] = {}
    for seed in range(args.seeds):
        before = cross_validate_pipelines(settings, base, folds=args.folds, seed=seed)
        after = cross_validate_pipelines(settings, adapted, folds=args.folds, seed=seed)
        for old, new in zip(before.pipelines, after.pipelines, strict=True):
            per_seed.setdefault(old.name, []).append((old.per_question, new.per_question))
    for name, runs in per_seed.items():
        old0, new0 = runs[0]
        print(f"\n{name} (fold seed 0; then the mean over {args.seeds} seeds)")
        for metric in ("ndcg_at_10", "hit_at_5", "mrr_at_10"):
            mean_old = np.mean([o[metric] for o, _ in runs], axis=0)
            mean_new = np.mean([n[metric] for _, n in runs], axis=0)
            paired0 = paired_difference(new0[metric], old0[metric])
            print(
                f"  {metric}: base {bootstrap_mean(old0[metric])}  adapted "
                f"{bootstrap_mean(new0[metric])}  paired {paired0}"
                f" | seeds: {mean_old.mean():.3f} -> {mean_new.mean():.3f}, paired "
                f"{paired_difference(mean_new, mean_old)}"
            )


async def mixed_records(args: argparse.Namespace) -> None:
    """Records whose first stage searches the adapted KB and whose late-interaction scores
    come from the packaged model: does the adapted model help as a bi-encoder alone?"""
    from bot.evaluation.cv_run import RECORD_DEPTH
    from bot.evaluation.questions import load_queries
    from bot.evaluation.records import collect_records, save_records
    from bot.services import build_services

    queries = load_queries(Path(args.queries))
    adapted = build_services(
        Settings(data_dir=args.adapted_dir, embedding_model=args.model, reranker="none")
    )
    base = build_services(
        Settings(data_dir=args.base_dir, reranker="late-interaction", reranker_timeout_s=120)
    )
    try:
        records = await collect_records(
            adapted.pipeline.retriever,
            base.rerank_stage,
            args.kb,
            queries,
            depth=RECORD_DEPTH,
            max_query_chars=adapted.pipeline.max_query_chars,
        )
    finally:
        await adapted.aclose()
        await base.aclose()
    save_records(Path(args.out), records)
    print(f"{len(records)} records written to {args.out}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    trainer = commands.add_parser("train", help="train on the KB in SUPPORTBOT_DATA_DIR")
    trainer.add_argument("kb")
    trainer.add_argument("model_out", help="folder for the adapted model (outside the repo)")
    trainer.add_argument("--seed", type=int, default=0)
    trainer.add_argument("--batch", type=int, default=32)
    trainer.add_argument("--lr", type=float, default=2e-5)
    trainer.add_argument("--scale", type=float, default=20.0)
    trainer.add_argument("--max-seq-length", type=int, default=128)
    trainer.add_argument(
        "--max-seconds",
        type=float,
        default=300.0,
        help="time budget: the epoch is cut to the steps that fit, measured on the first 3",
    )
    trainer.add_argument(
        "--freeze-word-embeddings",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep the WordPiece embedding table (half the weights) as it is",
    )
    comparer = commands.add_parser("compare", help="paired out-of-fold base vs adapted")
    comparer.add_argument("base")
    comparer.add_argument("adapted")
    comparer.add_argument("--folds", type=int, default=5)
    comparer.add_argument("--seeds", type=int, default=10)
    mixer = commands.add_parser(
        "mixed", help="records: adapted first stage, packaged model's late-interaction rerank"
    )
    mixer.add_argument("kb")
    mixer.add_argument("queries")
    mixer.add_argument("--base-dir", type=Path, required=True, help="data dir, packaged model")
    mixer.add_argument("--adapted-dir", type=Path, required=True, help="data dir, adapted")
    mixer.add_argument("--model", required=True, help="the adapted model's folder")
    mixer.add_argument("--out", required=True, help="records JSON to write (for `compare`)")
    args = parser.parse_args(argv)
    if args.command == "mixed":
        asyncio.run(mixed_records(args))
    else:
        {"train": train, "compare": compare}[args.command](args)


if __name__ == "__main__":
    main()
