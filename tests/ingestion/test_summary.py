"""The article gist embedded with every chunk: the lede's first sentence, nothing else."""

from __future__ import annotations

from bot.domain import ParsedDocument, Section
from ingestion.summary import MAX_SUMMARY_CHARS, context_for, document_summary


def article(*sections: Section) -> ParsedDocument:
    return ParsedDocument(source_id="a.md", title="Mute a topic", url=None, sections=sections)


def test_the_first_sentence_of_the_opening_paragraph_is_the_gist() -> None:
    doc = article(
        Section((), ("Muting a topic hides it from your feeds.\nIt stays searchable. More here.",)),
        Section(("Mute a topic",), ("Open the topic menu and choose Mute.",)),
    )
    assert document_summary(doc) == "Muting a topic hides it from your feeds."


def test_call_outs_steps_and_lead_ins_are_skipped() -> None:
    doc = article(
        Section(
            (),
            (
                "Warning: This feature is only available to organization administrators.",
                "Desktop/Web:",
                "1. Click the gear icon in the upper right corner.\n2. Select Settings.",
                "| Plan | Price |\n| Free | $0 |",
                "When you deactivate a user:",
                "Tip: press M to mute the topic you are reading.",
                "Muted topics stay searchable, and you can unmute them at any time.",
            ),
        )
    )
    assert document_summary(doc) == (
        "Muted topics stay searchable, and you can unmute them at any time."
    )


def test_only_the_first_section_is_read() -> None:
    doc = article(
        Section(("Overview",), ("- a list\n- only",)),
        Section(("Details",), ("This paragraph is deep in the article and not its lede.",)),
    )
    assert document_summary(doc) == ""
    assert document_summary(article()) == ""


def test_a_long_lede_is_cut_at_a_word_boundary() -> None:
    sentence = " ".join(["notifications"] * 60) + "."
    gist = document_summary(article(Section((), (sentence,))))
    assert len(gist) <= MAX_SUMMARY_CHARS + 1
    assert gist.endswith("notifications…")


def test_the_chunk_that_holds_the_lede_gets_no_context() -> None:
    gist = "Muting a topic hides it from your feeds."
    assert context_for("Muting a topic hides\nit from your feeds. It stays.", gist) == ""
    assert context_for("1. Open the topic menu.", gist) == gist
    assert context_for("1. Open the topic menu.", "") == ""
    cut = "Muting a topic hides it…"
    assert context_for("Muting a topic hides it from your feeds.", cut) == ""


def test_a_question_hook_keeps_the_statement_that_answers_it() -> None:
    doc = article(Section((), ("Moving to Lumen? You can bring your notes with you. Imports...",)))
    assert document_summary(doc) == "Moving to Lumen? You can bring your notes with you."
