"""supportbot's exception hierarchy.

    SupportbotError                 base; every error has a stable `code`
    ├── ConfigurationError          settings that cannot work (bad model id, missing URL)
    ├── InvalidRequest              caller's input is wrong (unknown KB, query too long)
    │   └── KnowledgeBaseNotFound
    ├── BackendUnavailable          a service (Elasticsearch, Redis, LLM) is down or slow
    ├── RetrievalError              search backend answered, but with an error
    │   └── EmbeddingModelMismatch  index built with another embedding model
    ├── IngestionError              a document could not be parsed or indexed
    ├── RerankError                 reranker failed (the pipeline degrades, never raises it)
    └── GenerationError             LLM failed (the pipeline degrades, never raises it)

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


class BackendUnavailable(SupportbotError):
    code = "backend_unavailable"

    def __init__(self, message: str, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RetrievalError(SupportbotError):
    code = "retrieval_error"


class EmbeddingModelMismatch(RetrievalError):
    code = "embedding_model_mismatch"


class IngestionError(SupportbotError):
    code = "ingestion_error"


class RerankError(SupportbotError):
    code = "rerank_error"


class GenerationError(SupportbotError):
    code = "generation_error"
