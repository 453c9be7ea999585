"""CohereReranker: Cohere's hosted Rerank (v2 API) through the official `cohere` SDK.

Limits we respect (docs.cohere.com, v2 reference and "Best Practices for using Rerank"):
at most 1,000 documents per request is the recommended ceiling, so larger candidate
lists are split into several requests and the scores merged back in input order
(relevance scores are absolute, in [0, 1], so they compare across requests); each
document is cut to a character budget before sending and `max_tokens_per_doc` makes
the server truncate precisely.

Retries are ours (`bot.retry`), not the SDK's: the SDK also honours `Retry-After`, but
waits up to 60 s, far beyond a chat request's rerank budget. We retry 429/5xx and
connection failures a bounded number of times, with jittered exponential backoff or the
server's `Retry-After`, and give up at once when the server asks for a longer wait than
`max_retry_wait_s`. Everything `score` raises is a `RerankError`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from bot.domain import Chunk
from bot.errors import ConfigurationError, RerankError
from bot.rerank.inputs import rerank_text
from bot.retry import RetryPolicy, retry_after_of

if TYPE_CHECKING:
    import cohere

logger = logging.getLogger(__name__)

MAX_DOCUMENTS_PER_REQUEST = 1000
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


def _error_message(body: Any) -> str:
    if isinstance(body, Mapping) and isinstance(body.get("message"), str):
        return str(body["message"])
    return str(body)[:300]


class CohereReranker:
    def __init__(
        self,
        api_key: str,
        model: str = "rerank-v3.5",
        *,
        base_url: str | None = None,
        timeout_s: float = 10.0,
        max_retries: int = 3,
        max_documents_per_request: int = MAX_DOCUMENTS_PER_REQUEST,
        max_tokens_per_doc: int = 512,
        max_chars_per_doc: int | None = None,
        max_retry_wait_s: float = 5.0,
        backoff_s: float = 0.25,
    ) -> None:
        if not api_key:
            raise ConfigurationError(
                "the Cohere reranker needs an API key: set SUPPORTBOT_COHERE_API_KEY, "
                "or choose another SUPPORTBOT_RERANKER"
            )
        if not 1 <= max_documents_per_request <= MAX_DOCUMENTS_PER_REQUEST:
            raise ConfigurationError(
                f"max_documents_per_request must be 1..{MAX_DOCUMENTS_PER_REQUEST}, "
                f"got {max_documents_per_request}"
            )
        if max_tokens_per_doc < 1 or timeout_s <= 0 or max_retries < 0:
            raise ConfigurationError(
                "Cohere reranker: max_tokens_per_doc must be >= 1, timeout_s > 0, max_retries >= 0"
            )
        self._api_key = api_key
        self.model = model
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.max_documents_per_request = max_documents_per_request
        self.max_tokens_per_doc = max_tokens_per_doc
        # ~4 characters per token in English; twice that keeps the server's precise
        # token truncation in charge while bounding what we upload.
        self.max_chars_per_doc = max_chars_per_doc or 8 * max_tokens_per_doc
        self.max_retry_wait_s = max_retry_wait_s
        self.backoff_s = backoff_s
        self._retry = RetryPolicy(
            attempts=max_retries + 1, initial_wait_s=backoff_s, max_wait_s=max_retry_wait_s
        )
        self.name = f"cohere:{model}:{max_tokens_per_doc}"
        self._client: cohere.ClientV2 | None = None
        self._client_lock = threading.Lock()

    def warm_up(self) -> None:
        """Build the HTTP client (no request is made: a ping would spend the caller's quota)."""
        self._get_client()

    def _get_client(self) -> cohere.ClientV2:
        with self._client_lock:
            if self._client is None:
                import cohere

                self._client = cohere.ClientV2(
                    api_key=self._api_key,
                    base_url=self.base_url,
                    timeout=self.timeout_s,
                    max_retries=0,
                    log_warning_experimental_features=False,
                )
            return self._client

    def score(self, query: str, chunks: Sequence[Chunk]) -> list[float]:
        documents = [rerank_text(chunk)[: self.max_chars_per_doc] for chunk in chunks]
        scores: list[float] = []
        step = self.max_documents_per_request
        for start in range(0, len(documents), step):
            scores.extend(self._score_batch(query, documents[start : start + step]))
        return scores

    def _score_batch(self, query: str, documents: list[str]) -> list[float]:
        response = self._rerank_with_retries(query, documents)
        scores: list[float | None] = [None] * len(documents)
        for result in response.results:
            if 0 <= result.index < len(documents):
                scores[result.index] = float(result.relevance_score)
        missing = sum(score is None for score in scores)
        if missing:
            raise RerankError(
                f"Cohere returned no score for {missing} of {len(documents)} documents"
            )
        return [score for score in scores if score is not None]

    def _rerank_with_retries(self, query: str, documents: list[str]) -> Any:
        from cohere.core.api_error import ApiError
        from cohere.core.parse_error import ParsingError

        client = self._get_client()

        def rerank_once() -> Any:
            """One request; what retrying cannot fix becomes a RerankError at once."""
            try:
                return client.rerank(
                    model=self.model,
                    query=query,
                    documents=documents,
                    top_n=len(documents),
                    max_tokens_per_doc=self.max_tokens_per_doc,
                )
            except httpx.TimeoutException as exc:
                raise RerankError(
                    f"Cohere rerank timed out after {self.timeout_s:g}s ({type(exc).__name__})"
                ) from exc
            except ParsingError as exc:
                raise RerankError(f"Cohere rerank response was malformed: {exc}") from exc
            except ApiError as exc:
                if exc.status_code not in RETRYABLE_STATUS:
                    raise _rejected(exc) from exc
                raise

        retrying = self._retry.retrying(
            (ApiError, httpx.TransportError), logger=logger, what="Cohere rerank"
        )
        try:
            return retrying(rerank_once)
        except httpx.TransportError as exc:
            raise RerankError(
                f"cannot reach Cohere at {self.base_url or 'api.cohere.com'}: {exc}"
            ) from exc
        except ApiError as exc:
            status, message = exc.status_code, _error_message(exc.body)
            asked = retry_after_of(exc)
            if asked is not None and asked > self.max_retry_wait_s:
                raise RerankError(
                    f"Cohere asked to retry after {asked:g}s ({status}: {message}), longer "
                    f"than the {self.max_retry_wait_s:g}s we wait"
                ) from exc
            attempts = retrying.statistics.get("attempt_number", self.max_retries + 1)
            raise RerankError(
                f"Cohere rerank still failing after {attempts} attempts ({status}): {message}"
            ) from exc


def _rejected(exc: Any) -> RerankError:
    """The error for a status no retry can fix (a bad key, a bad request)."""
    status, message = exc.status_code, _error_message(exc.body)
    if status in (401, 498):
        return RerankError(
            f"Cohere rejected the API key ({status}: {message}); check SUPPORTBOT_COHERE_API_KEY"
        )
    return RerankError(f"Cohere rerank failed ({status}): {message}")
