"""Gather the evidence the retrieval-idea experiments replay (issue 11, part 3).

    SUPPORTBOT_DATA_DIR=DIR SUPPORTBOT_RERANKER=late-interaction \
      .venv/bin/python -m benchmarks.retrieval_ideas_lists KB QUESTIONS.jsonl OUT.json

DIR holds the KB ingested with late interaction (token vectors stored) on the embedded
backend. Per question:
- `li`: late interaction (MaxSim) of every chunk of the KB, so a first-stage list over all
  chunks, or over any candidate set, can be replayed;
- `li_idf`: MaxSim over bm25 ∪ dense candidates with each query token weighted by its
  IDF in the KB's own word pieces, raised to γ (specials kept at 1 or at the mean weight);
- `li_mask`: MaxSim over the candidates with k [MASK] tokens appended to the question
  (ColBERT's query augmentation), by k;
- `li_tokens`: each query token's best cosine in each bm25 ∪ dense candidate, so scores
  over several chunks at once (an article's) can be replayed;
- `rm3`: BM25 of an RM3-style expansion: the 10 best new terms of the top 10 BM25 chunks'
  term distributions, weighted by each chunk's share of their BM25 scores, IDF-damped;
- `typo`: BM25 of the question with each word unknown to the KB, and not a whole word of
  the model's WordPiece vocabulary (so not an ordinary English word), mapped to the most
  frequent KB word within 1 edit (2 from 8 letters); absent when nothing changed.
`benchmarks.retrieval_ideas` replays them out of fold. Reads the embedded index's chunks
and the reranker's token vectors directly: a measurement, not serving code.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import sqlite3
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from bot.domain import Chunk
from bot.evaluation.questions import load_queries
from bot.pipeline import clean_query
from bot.rerank.late_interaction import LateInteractionReranker
from bot.retrieval.embedded import index as ix
from bot.retrieval.embedded.sqlite_db import DB_FILENAME
from bot.retrieval.terms import STOPWORDS, query_terms
from bot.services import build_services
from bot.settings import Settings
from ingestion.embedding_text import text_for_embedding

WORD = re.compile(r"[^\W_]+")
IDF_GAMMAS = (0.25, 0.5, 1.0, 2.0)
MASK_COUNTS = (2, 4, 8, 16)
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def all_chunks(settings: Settings, kb: str) -> list[Chunk]:
    conn = sqlite3.connect(settings.data_dir / DB_FILENAME)
    live = ix.require_live(conn, kb)
    rows = conn.execute(
        f"SELECT {ix._CHUNK_COLUMNS} FROM chunks AS c WHERE c.index_id = ?",
        (live.index_id,),
    ).fetchall()
    return [ix._chunk(kb, row) for row in rows]


def edits1(word: str) -> set[str]:
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return {
        *(a + b[1:] for a, b in splits if b),
        *(a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1),
        *(a + c + b[1:] for a, b in splits if b for c in LETTERS),
        *(a + c + b for a, b in splits for c in LETTERS),
    }


def corrected(terms: list[str], vocab: Counter[str], lexicon: set[str]) -> list[str]:
    out = []
    for term in terms:
        if term in vocab or term in lexicon or len(term) < 5 or not term.isalpha():
            out.append(term)
            continue
        near = [w for w in edits1(term) if w in vocab]
        if not near and len(term) >= 8:
            near = [w2 for w in edits1(term) for w2 in edits1(w) if w2 in vocab]
        out.append(max(near, key=lambda w: vocab[w]) if near else term)
    return out


async def main(kb: str, queries_path: Path, out: Path) -> None:
    settings = Settings()
    services = build_services(settings)
    reranker = services.pipeline._rerank._reranker
    if not isinstance(reranker, LateInteractionReranker):
        raise SystemExit("set SUPPORTBOT_RERANKER=late-interaction")
    tokenizer = reranker._embedder.tokenizer
    chunks = all_chunks(settings, kb)
    by_id = {c.chunk_id: c for c in chunks}
    matrices = reranker._chunk_tokens(chunks)
    stacked = np.concatenate([matrices[c.content_hash] for c in chunks])
    lengths = np.array([len(matrices[c.content_hash]) for c in chunks])
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    piece_df: Counter[int] = Counter()
    for chunk in chunks:
        piece_df.update(set(tokenizer(text_for_embedding(chunk), truncation=True)["input_ids"]))
    texts = {c.chunk_id: f"{c.title} {' '.join(c.heading_path)} {c.text}" for c in chunks}
    vocab: Counter[str] = Counter()
    doc_freq: Counter[str] = Counter()
    for text in texts.values():
        words = WORD.findall(text.casefold())
        vocab.update(words)
        doc_freq.update(set(words))
    lexicon = {piece for piece in tokenizer.vocab if piece.isalpha()}
    special = set(tokenizer.all_special_ids)
    n = len(chunks)
    source = {c.chunk_id: c.source_id for c in chunks}
    rows = {}
    for query in load_queries(queries_path):
        text = clean_query(query.query, 2000)
        q = reranker.query_tokens(text)
        per_token_all = q @ stacked.T
        best = np.maximum.reduceat(per_token_all, starts, axis=1)  # (q tokens, chunks)
        li = {c.chunk_id: float(s) for c, s in zip(chunks, best.mean(axis=0), strict=True)}
        bm25_hits = await services.backend.bm25(kb, text, 100)
        _, dense_hits = await services.pipeline.retriever.ranked_lists(kb, text, 100)
        union = sorted({h.chunk.chunk_id for h in (*bm25_hits, *dense_hits)})
        ids = tokenizer(text, truncation=True)["input_ids"]
        li_idf: dict[str, dict[str, float]] = {}
        column = {c.chunk_id: i for i, c in enumerate(chunks)}
        per_token = best[:, [column[c] for c in union]].T  # (union, q tokens)
        li_tokens = {
            c: [round(float(v), 5) for v in row] for c, row in zip(union, per_token, strict=True)
        }
        li_mask: dict[str, dict[str, float]] = {}
        for k in MASK_COUNTS:
            masked = reranker.query_tokens(text + f" {tokenizer.mask_token}" * k)
            li_mask[str(k)] = {
                c: float((masked @ matrices[by_id[c].content_hash].T).max(axis=1).mean())
                for c in union
            }
        if len(ids) == len(q):
            idf = np.array([math.log((n + 1) / (piece_df[i] + 1)) + 1 for i in ids])
            mask = np.array([i in special for i in ids])
            for gamma in IDF_GAMMAS:
                for specials in ("one", "mean"):
                    weights = idf**gamma
                    if specials == "mean":
                        weights[mask] = weights[~mask].mean()
                    values = per_token @ weights / weights.sum()
                    li_idf[f"{gamma}/{specials}"] = dict(
                        zip(union, map(float, values), strict=True)
                    )
        top = bm25_hits[:10]
        expansion: dict[str, float] = {}
        total = sum(h.score for h in top)
        for hit in top:
            words = WORD.findall(texts[hit.chunk.chunk_id].casefold())
            counts = Counter(t for t in words if t not in STOPWORDS and not t.isdigit())
            for term, count in counts.items():
                idf_term = math.log(n / doc_freq[term])
                gain = hit.score / total * count / len(words) * idf_term
                expansion[term] = expansion.get(term, 0.0) + gain
        original = set(query_terms(text))
        ranked_terms = sorted(expansion, key=lambda t: -expansion[t])
        new_terms = [t for t in ranked_terms if t not in original][:10]
        rm3 = await services.backend.bm25(kb, " ".join(new_terms), 100) if new_terms else []
        fixed = corrected(query_terms(text), vocab, lexicon)
        typo = None
        if fixed != query_terms(text):
            typo = await services.backend.bm25(kb, " ".join(fixed), 100)
        rows[query.id] = {
            "li": li,
            "li_idf": li_idf,
            "li_tokens": li_tokens,
            "li_mask": li_mask,
            "rm3": [(h.chunk.chunk_id, h.score) for h in rm3],
            "typo": None if typo is None else [(h.chunk.chunk_id, h.score) for h in typo],
        }
    source.update({cid: c.source_id for cid, c in by_id.items()})
    out.write_text(json.dumps({"source": source, "questions": rows}))
    await services.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
