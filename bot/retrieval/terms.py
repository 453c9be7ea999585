"""The content words of a customer's question, shared by every backend's BM25 side.

Users type questions, not search syntax: "how do I stop getting emails??". Both backends
search for the content words only (no stopwords, no punctuation, no operators), in order
of first appearance, and let BM25's IDF weigh them.
"""

from __future__ import annotations

import re
import unicodedata

MAX_QUERY_TERMS = 32
"""Bound the work per query; a pasted page of text keeps its first distinct terms."""

# Letters and digits, the same characters FTS5's unicode61 tokenizer keeps in a token;
# everything else (punctuation, `_`, emoji, FTS syntax) separates terms.
_TOKEN = re.compile(r"[^\W_]+")

# A standard English list plus what people add around a chat question. Negations and
# particles ("not", "off", "out", "up") stay: "turn off", "log out" and "not working"
# carry the meaning of support questions.
STOPWORDS = frozenset(
    """
    a about above after again against all am an and any anyone anything are as at
    be because been before being below between both but by can could did do does doing
    during each either else ever every few for from further get gets getting got had has
    have having he her here hers herself him himself his how i if in into is it its
    itself just know let like ll m me might more most much must my myself need needs
    of once only or other our ours ourselves own please pls possible re s same shall she
    should so some someone something such t than thank thanks that the their theirs them
    themselves then there these they this those through to too until us ve very want
    wanted wants was way we were what whats when where whether which while who whom whose
    why will with would you your yours yourself yourselves hi hello hey d don doesn
    didn isn aren wasn weren won wouldn couldn shouldn cant dont doesnt didnt isnt im ive
    arent wasnt werent wont wouldnt couldnt shouldnt youre theres thats whos wheres hows
    lets also even still already actually basically really now instead anymore
    somehow say says said try tried trying guys ok okay yes yeah btw
    """.split()  # noqa: SIM905 - a word list reads better as prose
)
"""Chat filler ("still", "actually", "says", "trying", apostrophe-less contractions) was
added after the first measurement: BM25 nDCG@10 0.869 → 0.909 on the sample help center's
questions, 0.674 → 0.678 on the Zulip dev set, hybrid unchanged."""


def query_terms(text: str) -> list[str]:
    """Distinct lower-cased content words of `text`, in order of first appearance."""
    terms: list[str] = []
    seen: set[str] = set()
    # NFKC composes "e" + combining accent into "é" and folds full-width forms, so the
    # regex sees the same letters the index tokenizer saw.
    for match in _TOKEN.finditer(unicodedata.normalize("NFKC", text).casefold()):
        term = match.group()
        if term in STOPWORDS or term in seen:
            continue
        seen.add(term)
        terms.append(term)
        if len(terms) == MAX_QUERY_TERMS:
            break
    return terms
