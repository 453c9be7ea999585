"""supportbot's exception hierarchy.

    SupportbotError                 base; every error has a stable `code`
    ├── ConfigurationError          settings that cannot work (bad model id, missing URL)
    ├── InvalidRequest              caller's input is wrong (unknown KB, query too long)
    │   ├── KnowledgeBaseNotFound
    │   ├── JobNotFound
    │   ├── Conflict                the request clashes with current state (KB exists)
    │   └── UploadRejected          unsafe or malformed upload (path traversal, bad zip)
    │       └── UnsupportedUpload   file type not accepted (415)
    ├── BackendUnavailable          a service (Elasticsearch, Redis, LLM) is down or slow
    │   └── BackendBlocked          up, but refusing work until an operator acts (disk full)
    ├── RetrievalError              search backend answered, but with an error
    │   └── EmbeddingModelMismatch  index built with another embedding model
    ├── IngestionError              a document could not be parsed or indexed
    ├── JobAbandoned                a job's worker process died every time it ran it
    ├── SourceError                 a connected source could not be listed completely
    │   ├── SourceAuthFailed        its credentials are missing, rejected or expired
    │   ├── SourceUnavailable       down, timing out or 5xx after retries (try later)
    │   │   └── SourceRateLimited   still 429 after retries; `retry_after_s`
    │   └── ListingTooSmall         far fewer documents than last time (force to accept)
    ├── RerankError                 reranker failed (the pipeline degrades, never raises it)
    ├── GenerationError             LLM failed (the pipeline degrades, never raises it)
    ├── Unauthorized                missing/invalid API key or webhook signature (401)
    ├── Forbidden                   valid key, but not for this origin, KB or endpoint (403)
    ├── RateLimited                 too many requests for this key or client IP (429)
    ├── Overloaded                  this process is at capacity, its queue full (503)
    └── PayloadTooLarge             request body over the configured limit (413)

Adapters translate foreign errors into these with `raise ... from exc`; only the API's
error handlers map them to HTTP status codes.
"""

from __future__ import annotations


class SupportbotError(Exception):
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(SupportbotError):
    code = "configuration_error"


class InvalidRequest(SupportbotError):
    code = "invalid_request"


class KnowledgeBaseNotFound(InvalidRequest):
    code = "kb_not_found"


class JobNotFound(InvalidRequest):
    code = "job_not_found"


class Conflict(InvalidRequest):
    code = "conflict"


class UploadRejected(InvalidRequest):
    code = "upload_rejected"


class UnsupportedUpload(UploadRejected):
    code = "unsupported_media_type"


class BackendUnavailable(SupportbotError):
    code = "backend_unavailable"

    def __init__(self, message: str, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BackendBlocked(BackendUnavailable):
    """The service answers but refuses the work until an operator acts (frees disk, lifts
    a block): retrying within seconds is futile, so jobs fail at once and say what to do."""


class RetrievalError(SupportbotError):
    code = "retrieval_error"


class EmbeddingModelMismatch(RetrievalError):
    code = "embedding_model_mismatch"


class IngestionError(SupportbotError):
    code = "ingestion_error"


class JobAbandoned(SupportbotError):
    code = "job_abandoned"


class SourceError(SupportbotError):
    """A sync's listing is incomplete; the sync deletes nothing (see bot.sources.protocol)."""

    code = "source_error"


class SourceAuthFailed(SourceError):
    code = "source_auth_failed"


class SourceUnavailable(SourceError):
    code = "source_unavailable"

    def __init__(self, message: str, retry_after_s: int = 60) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SourceRateLimited(SourceUnavailable):
    code = "source_rate_limited"


class ListingTooSmall(SourceError):
    code = "listing_too_small"


class RerankError(SupportbotError):
    code = "rerank_error"


class GenerationError(SupportbotError):
    code = "generation_error"


class Unauthorized(SupportbotError):
    """`code` narrows the reason: missing_api_key, invalid_api_key, invalid_signature, ..."""

    code = "unauthorized"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class Forbidden(SupportbotError):
    code = "forbidden"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class RateLimited(SupportbotError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Overloaded(SupportbotError):
    """Refused by admission control before any work: safe to retry after `retry_after_s`."""

    code = "overloaded"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PayloadTooLarge(SupportbotError):
    code = "payload_too_large"
