"""Chunker properties, checked with the embedding model's real tokenizer."""

from __future__ import annotations

import itertools
import re
import time

import pytest

from bot.domain import ParsedDocument, Section
from bot.embedding.sentence_transformer import SentenceTransformerEmbedder
from bot.errors import ConfigurationError
from bot.settings import Settings
from ingestion.chunking import Chunker
from ingestion.embedding_text import text_for_embedding

TARGET, MAX = 60, 80
FENCE_LINE = re.compile(r"^\s*(`{3,}|~{3,})")


@pytest.fixture
def chunker(token_counter: SentenceTransformerEmbedder) -> Chunker:
    return Chunker(token_counter, target_tokens=TARGET, max_tokens=MAX, overlap=0.15)


def sentences(count: int, topic: str) -> list[str]:
    return [
        f"Step {n} of the {topic} guide explains how option {n * 7 % 13} changes what members see."
        for n in range(count)
    ]


def document(*sections: Section) -> ParsedDocument:
    return ParsedDocument(
        source_id="guide.md", title="Guide", url="https://acme.test/guide", sections=sections
    )


MIXED = document(
    Section((), (" ".join(sentences(3, "intro")),)),
    Section(("Prose",), (" ".join(sentences(14, "prose")), " ".join(sentences(9, "more")))),
    Section(
        ("Reference", "Lists"),
        (
            "\n".join(
                f"{n}. Click **Item {n}** and then choose option {n} there." for n in range(40)
            ),
        ),
    ),
    Section(
        ("Reference", "Tables"),
        (
            "| Plan | Seats | Price per seat |\n"
            + "\n".join(f"| Plan {n} | {n * 10} | ${n}.00 per month |" for n in range(45)),
        ),
    ),
    Section(
        ("Reference", "Code"),
        (
            "Run this:",
            "```python\n" + "\n".join(f"value_{n} = compute({n})" for n in range(60)) + "\n```",
        ),
    ),
    Section(("Tiny",), ("Just one line.",)),
)


def lines_of(section: Section) -> tuple[set[str], list[str]]:
    multi = {line for block in section.blocks if "\n" in block for line in block.split("\n")}
    paragraphs = [block for block in section.blocks if "\n" not in block]
    return multi, paragraphs


def test_chunks_stay_within_bounds_and_inside_one_section(
    chunker: Chunker, token_counter: SentenceTransformerEmbedder
) -> None:
    chunks = chunker.chunk(MIXED, "acme")
    by_path = {section.heading_path: section for section in MIXED.sections}
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    assert {chunk.heading_path for chunk in chunks} == set(by_path)
    for chunk in chunks:
        assert token_counter.count_tokens(chunk.text) <= MAX, chunk.text
        assert (chunk.kb, chunk.source_id, chunk.title) == ("acme", "guide.md", "Guide")
        assert chunk.url == MIXED.url and chunk.doc_hash == MIXED.doc_hash
        multi, paragraphs = lines_of(by_path[chunk.heading_path])
        for line in chunk.text.split("\n"):
            if not line or FENCE_LINE.match(line):
                continue
            # a whole line of a list/table/code block, or whole sentences of one paragraph
            assert line in multi or any(line in paragraph for paragraph in paragraphs), line
    assert len([c for c in chunks if c.heading_path == ("Tiny",)]) == 1


def test_every_source_line_and_sentence_lands_in_some_chunk(chunker: Chunker) -> None:
    chunks = chunker.chunk(MIXED, "acme")
    for section in MIXED.sections:
        texts = "\n".join(c.text for c in chunks if c.heading_path == section.heading_path)
        for block in section.blocks:
            for piece in block.split("\n") if "\n" in block else re.split(r"(?<=\.) ", block):
                assert piece in texts, piece


def test_code_blocks_are_re_fenced_when_split(chunker: Chunker) -> None:
    code_chunks = [c for c in chunker.chunk(MIXED, "acme") if c.heading_path[-1:] == ("Code",)]
    assert len(code_chunks) >= 3
    for chunk in code_chunks:
        fences = [line for line in chunk.text.split("\n") if FENCE_LINE.match(line)]
        assert len(fences) % 2 == 0, chunk.text
        if "value_" in chunk.text:
            first_code = chunk.text.index("value_")
            assert "```" in chunk.text[:first_code], chunk.text
            assert chunk.text.rstrip().endswith("```"), chunk.text


def test_consecutive_chunks_of_a_section_overlap_by_whole_units(
    chunker: Chunker, token_counter: SentenceTransformerEmbedder
) -> None:
    chunks = chunker.chunk(MIXED, "acme")
    pairs = [(a, b) for a, b in itertools.pairwise(chunks) if a.heading_path == b.heading_path]
    assert len(pairs) >= 10
    for previous, following in pairs:
        first_line = following.text.split("\n")[0]
        first_unit = re.split(r"(?<=\.) ", first_line)[0]
        if FENCE_LINE.match(first_unit):  # a re-opened fence: the first code line overlaps
            first_unit = following.text.split("\n")[1]
        assert first_unit in previous.text, (previous.text, following.text)
        shared = 0
        while shared < len(following.text) and previous.text.endswith(following.text[: shared + 1]):
            shared += 1
        assert token_counter.count_tokens(following.text[:shared]) <= 2 * round(0.15 * TARGET)


def test_no_overlap_when_configured_off(token_counter: SentenceTransformerEmbedder) -> None:
    chunker = Chunker(token_counter, target_tokens=TARGET, max_tokens=MAX, overlap=0.0)
    prose = [c.text for c in chunker.chunk(MIXED, "acme") if c.heading_path == ("Prose",)]
    assert len(prose) >= 3
    assert " ".join(prose).count("Step 5 of the prose guide") == 1


def test_cjk_and_emoji_split_at_sentence_ends(
    chunker: Chunker, token_counter: SentenceTransformerEmbedder
) -> None:
    japanese = "".join(f"設定{n}を開いて通知をオンにします。" for n in range(40))
    emoji = " ".join(f"Tap 👍 or 🎉 to react to message {n}!" for n in range(30))
    chunks = chunker.chunk(document(Section(("日本語",), (japanese,)), Section((), (emoji,))), "kb")
    for chunk in chunks:
        assert token_counter.count_tokens(chunk.text) <= MAX
    cjk = [c.text for c in chunks if c.heading_path == ("日本語",)]
    assert len(cjk) > 1
    assert all(text.endswith("。") for text in cjk)
    for n in range(40):
        assert any(f"設定{n}を開いて通知をオンにします。" in text for text in cjk)
    assert any("Tap 👍 or 🎉 to react to message 29!" in c.text for c in chunks)


def test_empty_document_gives_no_chunks(chunker: Chunker) -> None:
    assert chunker.chunk(document(), "kb") == []


def test_a_giant_line_without_spaces_is_split_by_tokens_as_last_resort(
    chunker: Chunker, token_counter: SentenceTransformerEmbedder
) -> None:
    blob = "".join(f"{n:04x}QmFzZTY0" for n in range(600))
    chunks = chunker.chunk(document(Section(("Blob",), (blob,))), "kb")
    assert len(chunks) > 10
    for chunk in chunks:
        assert chunk.text in blob
        assert token_counter.count_tokens(chunk.text) <= MAX


def test_huge_document_is_chunked_quickly_within_bounds(
    token_counter: SentenceTransformerEmbedder,
) -> None:
    chunker = Chunker(token_counter, target_tokens=256, max_tokens=320, overlap=0.15)
    sections = tuple(
        Section(
            (f"Part {p}", f"Topic {t}"),
            tuple(" ".join(sentences(12, f"p{p}t{t}")) for _ in range(4)),
        )
        for p in range(10)
        for t in range(10)
    )
    huge = document(*sections)
    assert sum(len(b) for s in huge.sections for b in s.blocks) > 300_000
    started = time.perf_counter()
    chunks = chunker.chunk(huge, "kb")
    elapsed = time.perf_counter() - started
    assert elapsed < 30
    sizes = [token_counter.count_tokens(chunk.text) for chunk in chunks]
    assert max(sizes) <= 320
    assert sorted(sizes)[len(sizes) // 2] >= 150  # packed towards the target, not fragmented


def test_section_that_fits_max_stays_whole(token_counter: SentenceTransformerEmbedder) -> None:
    chunker = Chunker(token_counter, target_tokens=40, max_tokens=200, overlap=0.15)
    text = " ".join(sentences(6, "whole"))
    (chunk,) = chunker.chunk(document(Section(("One",), (text,))), "kb")
    assert chunk.text == text


def test_text_for_embedding_puts_the_title_then_the_articles_gist_first(
    chunker: Chunker,
) -> None:
    chunks = chunker.chunk(MIXED, "acme")
    code = next(c for c in chunks if c.heading_path == ("Reference", "Code"))
    gist = "Step 0 of the intro guide explains how option 0 changes what members see."
    assert code.heading_label == "Guide › Reference › Code"
    assert text_for_embedding(code) == f"Guide\n{gist}\n\n{code.text}"
    lede = chunks[0]  # holds the gist itself: not repeated
    assert lede.context == ""
    assert text_for_embedding(lede) == f"Guide\n\n{lede.text}"


def test_settings_drive_sizes_and_bad_sizes_are_refused(
    token_counter: SentenceTransformerEmbedder,
) -> None:
    settings = Settings(
        _env_file=None, chunk_target_tokens=100, chunk_max_tokens=120, chunk_overlap=0.2
    )  # type: ignore[call-arg]
    chunker = Chunker.from_settings(settings, token_counter)
    assert (chunker.target_tokens, chunker.max_tokens, chunker.overlap) == (100, 120, 0.2)
    with pytest.raises(ConfigurationError, match="CHUNK_TARGET_TOKENS"):
        Chunker(token_counter, target_tokens=300, max_tokens=200, overlap=0.1)
    with pytest.raises(ConfigurationError, match="overlap"):
        Chunker(token_counter, target_tokens=100, max_tokens=200, overlap=0.7)
