"""Answers written by an LLM through litellm, streamed as text deltas.

litellm takes seconds to import and, unless told otherwise, fetches its model cost map
from GitHub while importing (a 5 s stall per attempt on an offline machine). So it is
imported on first use (or in `warm_up()`), with litellm's own offline switches set
first: the only network traffic is to the configured model's endpoint.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
from collections.abc import AsyncGenerator, Awaitable, Sequence
from types import ModuleType
from typing import Any, Literal, TypeVar

from bot.domain import Candidate
from bot.errors import ConfigurationError, GenerationError
from bot.generation.decline import (
    MARKER_RULE,
    TOOL_RULE,
    DeclineSignal,
    MarkerFilter,
    ModelDeclined,
    no_answer_tool,
)
from bot.generation.litellm_errors import translate_llm_error
from bot.generation.prompt import build_messages
from bot.generation.protocol import Turn
from bot.observability.protocol import NO_OBSERVER, Observer

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

LITELLM_OFFLINE_ENV = {
    # Use the cost map bundled with the package instead of fetching it at import.
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    # Also stops the other catalogs litellm fetches on its own (Anthropic beta headers,
    # tokenizers). Calls to the configured model are unaffected.
    "LITELLM_OFFLINE_MODE": "true",
}

PLACEHOLDER_API_KEY = "no-key-needed"
"""Sent to a custom base URL when no key is set: local OpenAI-compatible servers ignore it,
and a real provider key from the environment is never leaked to a server we don't know."""


def load_litellm() -> ModuleType:
    """Import litellm with its self-initiated network calls, telemetry and banners off."""
    for name, value in LITELLM_OFFLINE_ENV.items():
        os.environ.setdefault(name, value)
    import litellm

    litellm.telemetry = False  # documented opt-out; a no-op on versions without telemetry
    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banner on errors
    litellm.turn_off_message_logging = True  # customer messages stay out of callback logs
    return litellm


class LiteLLMGenerator:
    """Streams an answer from any litellm model string, e.g. `openai/gpt-4o-mini`."""

    mode: Literal["llm", "extractive"] = "llm"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_s: float = 30.0,
        deadline_s: float = 60.0,
        max_tokens: int = 512,
        temperature: float = 0.1,
        observer: Observer = NO_OBSERVER,
        decline_signal: DeclineSignal = "auto",
    ) -> None:
        self._observer = observer
        self.name = model
        self.decline_signal = decline_signal
        self.model = model
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._api_key = api_key or (PLACEHOLDER_API_KEY if base_url else None)
        self._litellm: ModuleType | None = None

    def warm_up(self) -> None:
        """Import litellm now (seconds; call at start-up) and check the model string.

        Raises ConfigurationError when litellm cannot tell which provider `model` names.
        """
        if self._litellm is not None:
            return
        litellm = load_litellm()
        try:
            litellm.get_llm_provider(model=self.model, api_base=self.base_url)
        except Exception as exc:
            # litellm raises its BadRequestError (or ValueError in older versions).
            raise ConfigurationError(
                f"SUPPORTBOT_LLM_MODEL={self.model!r} does not name a provider litellm knows. "
                "Use a litellm model string such as 'openai/gpt-4o-mini', "
                "'anthropic/claude-3-5-haiku-latest', or 'openai/<model>' with "
                "SUPPORTBOT_LLM_BASE_URL for an OpenAI-compatible server."
            ) from exc
        self._litellm = litellm

    def uses_tool(self) -> bool:
        """Whether the no-answer signal is a tool call (else the strict marker)."""
        if self.decline_signal != "auto":
            return self.decline_signal == "tool"
        litellm = self._litellm or load_litellm()
        try:
            return bool(litellm.supports_function_calling(model=self.model))
        except Exception:  # noqa: BLE001 - unknown to litellm's model map: use the marker
            return False

    async def stream(
        self, question: str, passages: Sequence[Candidate], history: Sequence[Turn] = ()
    ) -> AsyncGenerator[str, None]:
        """Yield the answer as the model writes it. Raise GenerationError on any failure,
        ModelDeclined when the model signals that the passages do not answer.

        `timeout_s` bounds each wait: connecting, the first token and every later one.
        `deadline_s` bounds the whole answer, so a model that drips tokens just under
        `timeout_s` cannot hold the request open indefinitely.
        """
        if self._litellm is None:
            try:
                await asyncio.to_thread(self.warm_up)
            except ConfigurationError as exc:
                raise GenerationError(exc.message) from exc
        litellm = self._litellm
        assert litellm is not None
        tool = self.uses_tool()
        messages = build_messages(
            question, passages, history, no_answer_rule=TOOL_RULE if tool else MARKER_RULE
        )
        request = self._request(messages)
        if tool:
            request["tools"] = [no_answer_tool()]
            request["tool_choice"] = "auto"
        response: Any = None
        produced = False
        marker = MarkerFilter()
        deadline = _Deadline(self.deadline_s)
        try:
            response = await deadline.wait(litellm.acompletion(**request))
            chunks = aiter(response)
            while (chunk := await deadline.wait(anext(chunks, None))) is not None:
                if _calls_a_tool(chunk):
                    # The only tool offered is the no-answer signal; any call declines,
                    # whatever its arguments say (or fail to say).
                    raise ModelDeclined
                delta = _delta_text(chunk)
                if delta:
                    produced = True
                    shown = marker.feed(delta)
                    if marker.declined:
                        raise ModelDeclined
                    if shown:
                        yield shown
                usage = getattr(chunk, "usage", None)
                if usage is not None:
                    self._report_usage(litellm, usage)
        except ModelDeclined:
            raise
        except Exception as exc:
            if not isinstance(exc, _DeadlinePassed) and not deadline.passed():
                # Provider code may raise anything; callers degrade on GenerationError only.
                error = translate_llm_error(
                    exc, model=self.model, base_url=self.base_url, timeout_s=self.timeout_s
                )
                logger.warning("LLM call failed after %s: %s", _progress(produced), error.message)
                raise error from exc
            # Past the deadline, a wait that failed at the same moment (the client's own
            # read timeout firing with ours) is the deadline too: the answer was cut there.
            error = GenerationError(
                f"The language model ({self.model}) was too slow: no complete answer within "
                f"{self.deadline_s:g} s. Try a faster model, or raise SUPPORTBOT_LLM_DEADLINE_S."
            )
            logger.warning("LLM call abandoned after %s: %s", _progress(produced), error.message)
            raise error from None
        finally:
            if response is not None and hasattr(response, "aclose"):
                await response.aclose()
        if rest := marker.finish():
            yield rest
        if not produced:
            raise GenerationError(
                f"The language model ({self.model}) returned no answer text (an empty or "
                "unreadable reply). Check that SUPPORTBOT_LLM_MODEL names a chat model."
            )

    def _report_usage(self, litellm: ModuleType, usage: Any) -> None:
        """Tokens from the stream's final `usage` block; cost from litellm's price map."""
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        if not prompt and not completion:
            return
        cost: float | None
        try:
            prompt_cost, completion_cost = litellm.cost_per_token(
                model=self.model, prompt_tokens=prompt, completion_tokens=completion
            )
            cost = float(prompt_cost + completion_cost)
        except Exception:  # noqa: BLE001 - a model missing from the price map has no cost
            cost = None
        self._observer.llm_usage(self.model, prompt, completion, cost)

    def _request(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},  # a final chunk with token counts
            "timeout": self.timeout_s,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "num_retries": 0,  # fail fast: the pipeline falls back to an extractive answer
            "drop_params": True,  # models that refuse e.g. temperature still answer
        }
        if self._api_key is not None:
            request["api_key"] = self._api_key
        if self.base_url is not None:
            request["base_url"] = self.base_url
        return request


class _DeadlinePassed(Exception):
    """The whole answer took longer than `deadline_s` (not one slow wait: that is a timeout)."""


class _Deadline:
    """One deadline shared by every wait of an answer.

    Each wait is bounded by `asyncio.wait_for` rather than a scope around the generator,
    whose cancellation would land on the consumer while it is suspended at a `yield`.
    """

    def __init__(self, seconds: float) -> None:
        self._at = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() >= self._at

    async def wait(self, awaitable: Awaitable[_T]) -> _T:
        remaining = self._at - time.monotonic()
        if remaining <= 0:
            if inspect.iscoroutine(awaitable):
                awaitable.close()  # never awaited: no "coroutine was never awaited" warning
            raise _DeadlinePassed
        try:
            return await asyncio.wait_for(awaitable, remaining)
        except TimeoutError:
            if time.monotonic() < self._at:
                raise  # a timeout from inside the call, not ours
            raise _DeadlinePassed from None


def _delta_text(chunk: Any) -> str:
    choices = getattr(chunk, "choices", None)
    if not choices:
        return ""
    delta = getattr(choices[0], "delta", None)
    content = getattr(delta, "content", None)
    return content if isinstance(content, str) else ""


def _calls_a_tool(chunk: Any) -> bool:
    choices = getattr(chunk, "choices", None)
    if not choices:
        return False
    delta = getattr(choices[0], "delta", None)
    return bool(getattr(delta, "tool_calls", None)) or getattr(
        choices[0], "finish_reason", None
    ) in ("tool_calls", "function_call")


def _progress(produced: bool) -> str:
    return "part of the answer was streamed" if produced else "no answer text"
