"""FastTokenizer: a model's Rust tokenizer (`tokenizers`), without importing transformers.

A Hugging Face fast tokenizer is a thin Python layer over a `tokenizers.Tokenizer`; the
ids come from that backend. We take the backend as transformers configured it (so any
normaliser it rewrote from tokenizer_config.json comes along), save it with the model
cache, and later load it in ~0.1 s where `transformers` takes seconds to import.

Calls mirror `tokenizer(texts, truncation=True, max_length=n)` without padding (the
batching code pads): the same ids, token types and attention masks, keyed by the input
names the model expects. Two backend copies are configured once (truncating at
`max_length`, and not truncating for counting, made at the first count), so no call
mutates shared state and threads may tokenise at the same time.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import ConfigurationError

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer
    from transformers import PreTrainedTokenizerBase

Features = dict[str, list[list[int]]]


class FastTokenizer:
    def __init__(
        self, backend_json: str, *, max_length: int, input_names: Sequence[str], pad_id: int
    ) -> None:
        from tokenizers import Tokenizer

        self.max_length = max_length
        self.input_names = tuple(input_names)
        self.pad_id = pad_id
        self._json = backend_json
        self._truncating: Tokenizer = Tokenizer.from_str(backend_json)
        self._truncating.no_padding()
        self._truncating.enable_truncation(max_length, strategy="longest_first")

    @cached_property
    def _counting(self) -> Tokenizer:
        """Built at the first count (the chunker's): a search never counts, and parsing
        the JSON is ~30 ms of a start."""
        from tokenizers import Tokenizer

        counting = Tokenizer.from_str(self._json)
        counting.no_padding()
        counting.no_truncation()
        return counting

    @classmethod
    def from_hf(cls, tokenizer: PreTrainedTokenizerBase, max_length: int) -> FastTokenizer:
        """The backend of a loaded transformers fast tokenizer (a copy; the original is kept)."""
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise ConfigurationError(
                f"{type(tokenizer).__name__} is not a fast (Rust) tokenizer; the local models "
                "need one (a tokenizer.json in the model folder)"
            )
        return cls(
            backend.to_str(),
            max_length=max_length,
            input_names=list(tokenizer.model_input_names),
            pad_id=int(tokenizer.pad_token_id or 0),
        )

    @classmethod
    def load(
        cls, path: Path, *, max_length: int, input_names: Sequence[str], pad_id: int
    ) -> FastTokenizer:
        return cls(
            path.read_text(encoding="utf-8"),
            max_length=max_length,
            input_names=input_names,
            pad_id=pad_id,
        )

    def save(self, path: Path) -> None:
        path.write_text(self._json, encoding="utf-8")

    def encode(self, texts: Sequence[str]) -> Features:
        """Each text with special tokens, truncated to `max_length`, unpadded."""
        return self._features(self._truncating.encode_batch(list(texts)))

    def encode_one(self, text: str) -> Encoding:
        """One text as `encode` sees it, with each token's string, offsets and word."""
        return self._truncating.encode(text)

    @property
    def special_ids(self) -> frozenset[int]:
        """Ids of the special tokens ([CLS], [SEP], [PAD], [UNK], [MASK] for BERT)."""
        added = self._truncating.get_added_tokens_decoder()
        return frozenset(token_id for token_id, token in added.items() if token.special)

    def encode_pairs(self, firsts: Sequence[str], seconds: Sequence[str]) -> Features:
        """Each (first, second) pair as one sequence, the longer side truncated first."""
        pairs: list[Any] = list(zip(firsts, seconds, strict=True))
        return self._features(self._truncating.encode_batch(pairs))

    def count(self, text: str) -> int:
        """Tokens in `text` without special tokens or truncation (what the chunker sums)."""
        return len(self._counting.encode(text, add_special_tokens=False).ids)

    def _features(self, encodings: list[Encoding]) -> Features:
        columns = {
            "input_ids": [e.ids for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
        }
        return {name: columns[name] for name in self.input_names if name in columns}
