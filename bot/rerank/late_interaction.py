"""LateInteractionReranker: MaxSim over the embedding model's own token vectors.

No cross-encoder weights needed: each chunk's token vectors come from the forward pass
that embedded it at ingestion (stored by `TokenVectorStore`), so reranking costs one
query encoding plus one matrix product. It is also the fallback when a configured
cross-encoder cannot be loaded.

Every query token counts, [CLS], [SEP] and punctuation included: on the Zulip dev set
dropping them lowered nDCG@10 (0.826 → 0.815, see benchmarks/README.md), so that is an
option (`content_query_tokens=True`), not the default.
Chunks whose vectors are missing (ingested before this reranker was enabled, or the
store was wiped) are embedded on the fly in one batch and stored, so the store heals.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np

from bot.domain import Chunk, TokenMatch, Vector
from bot.errors import BackendUnavailable, RerankError
from bot.rerank.maxsim import maxsim_scores, normalise_rows
from bot.rerank.token_store import TokenVectorStore
from bot.retrieval.terms import STOPWORDS
from ingestion.embedding_text import EMBEDDING_TEXT_VERSION, text_for_embedding

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from bot.inference.fast_tokenizer import FastTokenizer

logger = logging.getLogger(__name__)

MaxSim = Callable[[Vector, Sequence[Vector]], list[float]]
"""Scores of normalised query tokens against each chunk's (see `maxsim_scores`)."""


class TokenEmbedder(Protocol):
    """What late interaction needs from an embedder (SentenceTransformerEmbedder fits)."""

    model_id: str

    def warm_up(self) -> None: ...

    def embed_documents_with_tokens(self, texts: Sequence[str]) -> tuple[Vector, list[Vector]]: ...

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase: ...

    @property
    def max_seq_length(self) -> int: ...

    @property
    def fast_tokenizer(self) -> FastTokenizer | None:
        """The model's Rust tokenizer when loaded without transformers (OpenVINO), else None."""
        ...


def is_content_token(token: str) -> bool:
    """False for word pieces made only of punctuation or symbols ("?", "##.", "'")."""
    piece = token.removeprefix("##").removeprefix("▁").removeprefix("Ġ")
    return any(unicodedata.category(char)[0] not in "PSZ" for char in piece)


class _Piece(NamedTuple):
    token_id: int
    name: str
    word: str
    """The whole word the piece belongs to, lower-cased (the piece itself for specials)."""
    special: bool


def _word_spans(
    word_ids: Sequence[int | None], offsets: Sequence[tuple[int, int]]
) -> list[tuple[int, int] | None]:
    """Character span of the word each token belongs to; None for special tokens."""
    extent: dict[int, tuple[int, int]] = {}
    for word_id, (start, end) in zip(word_ids, offsets, strict=True):
        if word_id is not None:
            first, _ = extent.get(word_id, (start, end))
            extent[word_id] = (first, end)
    return [None if w is None else extent[w] for w in word_ids]


class LateInteractionReranker:
    def __init__(
        self,
        embedder: TokenEmbedder,
        store: TokenVectorStore,
        *,
        content_query_tokens: bool = False,
        maxsim: MaxSim = maxsim_scores,
    ) -> None:
        """`content_query_tokens=True` drops [CLS]/[SEP]/punctuation query tokens; `maxsim`
        scores the candidates (`TwoThreadMaxSim` splits them over two idle cores)."""
        # Token vectors and cached scores depend on the exact embedded text too.
        scoring_id = f"{embedder.model_id}#text-v{EMBEDDING_TEXT_VERSION}"
        store.bind(scoring_id)
        self.name = f"late-interaction:{scoring_id}"
        self._embedder = embedder
        self._store = store
        self._content_query_tokens = content_query_tokens
        self._maxsim = maxsim

    def warm_up(self) -> None:
        self._embedder.warm_up()

    def score(self, query: str, chunks: Sequence[Chunk]) -> list[float]:
        if not chunks:
            return []
        try:
            query_tokens = self.query_tokens(query)
            matrices = self._chunk_tokens(chunks)
            return self._maxsim(query_tokens, [matrices[c.content_hash] for c in chunks])
        except RerankError:
            raise
        except Exception as exc:
            raise RerankError(f"late-interaction reranking failed: {exc}") from exc

    # -- query side ----------------------------------------------------------------
    def query_tokens(self, query: str) -> Vector:
        """The query's normalised token vectors, meaningless tokens dropped when configured."""
        _, (tokens,) = self._embedder.embed_documents_with_tokens([query])
        if self._content_query_tokens:
            keep = self._content_mask(self._query_pieces(query), len(tokens))
            if keep is not None and keep.any():
                tokens = tokens[keep]
        return normalise_rows(tokens)

    def content_token_matches(self, query: str, chunk: Chunk) -> list[TokenMatch]:
        """Best cosine in `chunk` of each of the question's content tokens (no specials,
        punctuation or stopwords), with the word each token is part of: the evidence of
        whether the passage addresses the question's words, and which ones."""
        _, (tokens,) = self._embedder.embed_documents_with_tokens([query])
        pieces = self._query_pieces(query)
        keep = self._content_mask(pieces, len(tokens), drop_stopwords=True)
        words = [p.word for p in pieces] if len(pieces) == len(tokens) else [""] * len(tokens)
        if keep is not None and keep.any():
            tokens = tokens[keep]
            words = [word for word, kept in zip(words, keep, strict=True) if kept]
        matrix = np.asarray(self._chunk_tokens([chunk])[chunk.content_hash], dtype=np.float32)
        if not len(matrix):
            return [TokenMatch(word, 0.0) for word in words]
        best = (normalise_rows(tokens) @ matrix.T).max(axis=1)
        return [TokenMatch(word, float(v)) for word, v in zip(words, best, strict=True)]

    def _query_pieces(self, query: str) -> list[_Piece]:
        """The query's tokens as the model's forward pass sees them, each with its word.

        From the Rust tokenizer the encoder already holds when there is one: loading the
        transformers tokenizer imports torch, seconds on the first search of a process."""
        fast = self._embedder.fast_tokenizer
        spans: list[tuple[int, int] | None]
        if fast is not None:
            encoding = fast.encode_one(query)
            ids, names, special_ids = encoding.ids, encoding.tokens, fast.special_ids
            spans = _word_spans(encoding.word_ids, encoding.offsets)
        else:
            tokenizer = self._embedder.tokenizer
            encoded = tokenizer(
                query,
                truncation=True,
                max_length=self._embedder.max_seq_length,
                return_offsets_mapping=bool(getattr(tokenizer, "is_fast", False)),
            )
            ids = encoded["input_ids"]
            names = list(tokenizer.convert_ids_to_tokens(ids))
            special_ids = frozenset(tokenizer.all_special_ids)
            offsets = encoded.get("offset_mapping")
            # A slow tokenizer cannot say which word a token is part of.
            spans = (
                [None] * len(ids) if offsets is None else _word_spans(encoded.word_ids(), offsets)
            )
        return [
            _Piece(
                token_id,
                name,
                (query[span[0] : span[1]] if span else name.removeprefix("##")).casefold(),
                token_id in special_ids,
            )
            for token_id, name, span in zip(ids, names, spans, strict=True)
        ]

    def _content_mask(
        self, pieces: Sequence[_Piece], length: int, *, drop_stopwords: bool = False
    ) -> np.ndarray | None:
        if len(pieces) != length:  # tokenised differently from the model's forward pass
            return None
        return np.array(
            [
                not piece.special
                and is_content_token(piece.name)
                and not (drop_stopwords and piece.name.removeprefix("##").lower() in STOPWORDS)
                for piece in pieces
            ],
            dtype=bool,
        )

    # -- chunk side ----------------------------------------------------------------
    def _chunk_tokens(self, chunks: Sequence[Chunk]) -> dict[str, Vector]:
        unique = {chunk.content_hash: chunk for chunk in chunks}
        found = self._store.load(list(unique))
        missing = [chunk for content_hash, chunk in unique.items() if content_hash not in found]
        if missing:
            found.update(self._embed_and_store(missing))
        return found

    def _embed_and_store(self, chunks: list[Chunk]) -> dict[str, Vector]:
        """Self-healing: embed chunks the store lacks, keep them for next time."""
        logger.info("late interaction: embedding %s chunks missing from the store", len(chunks))
        _, token_vectors = self._embedder.embed_documents_with_tokens(
            [text_for_embedding(chunk) for chunk in chunks]
        )
        computed = {
            chunk.content_hash: normalise_rows(matrix)
            for chunk, matrix in zip(chunks, token_vectors, strict=True)
        }
        try:
            self._store.store(chunks, token_vectors)
            # Read back what was stored, so this call scores exactly as later calls will.
            computed.update(self._store.load(list(computed)))
        except BackendUnavailable as exc:
            logger.warning("could not keep token vectors, scoring anyway: %s", exc.message)
        return computed
