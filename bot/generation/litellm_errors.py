"""Turn litellm's (OpenAI-shaped) exceptions into a GenerationError that says what to do.

Only call this after litellm has been imported: it imports litellm's exception types.
"""

from __future__ import annotations

import re

from bot.errors import GenerationError

_NOISY_PREFIX = re.compile(
    r"^(?:\s*(?:litellm\.\w+|\w+(?:Error|Exception)|Error_str|Original exception)\s*[:-]\s*)+"
)
_MAX_DETAIL_CHARS = 300


def translate_llm_error(
    exc: BaseException, *, model: str, base_url: str | None, timeout_s: float
) -> GenerationError:
    """A GenerationError whose message names the cause and the setting to check."""
    import openai
    from litellm.exceptions import ContextWindowExceededError, MidStreamFallbackError

    original = getattr(exc, "original_exception", None)
    if isinstance(exc, MidStreamFallbackError) and isinstance(original, Exception):
        exc = original
    where = base_url or "the provider's API"
    detail = _detail(exc)
    causes = _causes(exc)
    # litellm reports some transport failures as HTTP 500; the cause chain has the truth.
    transport_failed = not isinstance(exc, openai.APIStatusError) or exc.status_code == 500

    timed_out = any(isinstance(c, openai.APITimeoutError | TimeoutError) for c in causes)
    if timed_out and transport_failed:
        return GenerationError(
            f"The language model ({model}) did not respond within {timeout_s:g} s. "
            "It may be overloaded: try again, or raise SUPPORTBOT_LLM_TIMEOUT_S."
        )
    refused = [c for c in causes if isinstance(c, openai.APIConnectionError | ConnectionError)]
    if refused and transport_failed:
        return GenerationError(
            f"Could not reach the language model at {where}, or the connection dropped "
            f"({_detail(causes[-1])}). Check that the server is running and that "
            "SUPPORTBOT_LLM_BASE_URL is right."
        )
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return GenerationError(
            f"The language model provider refused the credentials for {model} ({detail}). "
            "Check SUPPORTBOT_LLM_API_KEY."
        )
    if isinstance(exc, openai.RateLimitError):
        retry = _retry_after(exc)
        wait = f"in {retry} s" if retry else "in a few seconds"
        return GenerationError(
            f"The language model provider is rate-limiting requests for {model} (HTTP 429). "
            f"Try again {wait}, or raise the provider's rate limit."
        )
    if isinstance(exc, openai.NotFoundError):
        return GenerationError(
            f"The model {model!r} was not found at {where} ({detail}). Check SUPPORTBOT_LLM_MODEL "
            "(a litellm model string such as 'openai/gpt-4o-mini') and SUPPORTBOT_LLM_BASE_URL."
        )
    if isinstance(exc, ContextWindowExceededError):
        return GenerationError(
            f"The prompt is too long for {model}'s context window. Lower SUPPORTBOT_FINAL_K "
            "or SUPPORTBOT_CHUNK_MAX_TOKENS, or use a model with a larger context."
        )
    if isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        return GenerationError(
            f"The language model rejected the request ({detail}). Check SUPPORTBOT_LLM_MODEL "
            "and that the model accepts chat completions."
        )
    if isinstance(exc, openai.APIStatusError):
        return GenerationError(
            f"The language model server at {where} answered with HTTP {exc.status_code} "
            f"({detail}). Try again later."
        )
    return GenerationError(
        f"The language model call to {model} failed unexpectedly ({type(exc).__name__}: {detail})."
    )


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _detail(exc: BaseException) -> str:
    """The provider's own message, without litellm's stacked class-name prefixes."""
    text = str(getattr(exc, "message", "") or exc)
    text = text.replace("OpenAIException - ", "")
    text = " ".join(_NOISY_PREFIX.sub("", text).split()) or type(exc).__name__
    if len(text) > _MAX_DETAIL_CHARS:
        text = text[: _MAX_DETAIL_CHARS - 1].rstrip() + "…"
    return text


def _retry_after(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    try:
        return max(1, round(float(value))) if value else None
    except ValueError:
        return None
