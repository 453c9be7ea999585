"""The OpenAI-compatible test stub as its own process, streaming at a model's pace.

    .venv/bin/python -m benchmarks.llm_stub --token-ms 30 --tokens 60

Prints its base URL on the first line of stdout, then serves until stdin closes or it is
terminated. A separate process, so its threads never share a GIL with the load generator.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tests.support.openai_stub_server import OpenAIStubServer, StubReply

ANSWER_WORDS = [
    "You",
    "can",
    "do",
    "that",
    "from",
    "the",
    "settings",
    "page",
    "of",
    "your",
    "workspace",
    "[1].",
    "Open",
    "the",
    "menu,",
    "choose",
    "the",
    "option",
    "described",
    "in",
    "the",
    "article,",
    "and",
    "confirm;",
    "the",
    "change",
    "applies",
    "to",
    "every",
    "device",
    "you",
    "are",
    "signed",
    "in",
    "on",
    "[2].",
    "If",
    "it",
    "does",
    "not",
    "appear,",
    "sign",
    "out",
    "and",
    "back",
    "in,",
    "or",
    "ask",
    "your",
    "admin,",
    "who",
    "may",
    "have",
    "turned",
    "it",
    "off",
    "for",
    "your",
    "team",
    "[1].",
]


def paced_reply(tokens: int, token_ms: float) -> StubReply:
    """`tokens` word deltas, one every `token_ms`, citing the first passages."""
    words = [ANSWER_WORDS[i % len(ANSWER_WORDS)] for i in range(tokens)]
    return StubReply(text=" ".join(words), chunk_delay_s=token_ms / 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--token-ms", type=float, default=30.0, help="Delay between deltas.")
    parser.add_argument("--tokens", type=int, default=60, help="Deltas per answer.")
    args = parser.parse_args()
    server = OpenAIStubServer(paced_reply(args.tokens, args.token_ms)).start()
    print(server.base_url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())

    def wait_for_stdin_to_close() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=wait_for_stdin_to_close, daemon=True).start()
    done.wait()
    server.stop()


if __name__ == "__main__":
    main()
