"""CPU one streamed LLM answer costs this process: the LLM client parsing every delta.

    .venv/bin/python -m benchmarks.llm_stream_cpu --answers 100 --concurrency 10 --tokens 60

`LiteLLMGenerator.stream` (the chat path) against `benchmarks.llm_stub` in its own process,
tokens sent without delay, so the process's CPU time over the answers is the client's
work alone. That work runs on the API's event loop: it bounds how many answers one
process can stream at once (admission's `max_in_flight`, benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time

from benchmarks.served import llm_stub
from bot.generation.litellm_generator import LiteLLMGenerator


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(answers: int, concurrency: int, tokens: int) -> dict[str, float]:
    with llm_stub(0.0, tokens) as url:
        generator = LiteLLMGenerator(
            "openai/bench-stub",
            api_key="bench",
            base_url=url,
            timeout_s=30,
            deadline_s=60,
            max_tokens=512,
            temperature=0.1,
        )
        generator.warm_up()
        slots = asyncio.Semaphore(concurrency)

        async def answer() -> int:
            async with slots:
                return len([piece async for piece in generator.stream("how?", [], [])])

        await answer()  # first-call imports and connections are not part of the figure
        cpu, wall = _cpu_s(), time.perf_counter()
        deltas = await asyncio.gather(*(answer() for _ in range(answers)))
        cpu, wall = _cpu_s() - cpu, time.perf_counter() - wall
    return {
        "answers": answers,
        "deltas_per_answer": deltas[0],
        "cpu_ms_per_answer": round(cpu / answers * 1000, 1),
        "cpu_ms_per_delta": round(cpu / sum(deltas) * 1000, 3),
        "wall_s": round(wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--answers", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=60, help="Deltas per answer.")
    args = parser.parse_args()
    print(asyncio.run(measure(args.answers, args.concurrency, args.tokens)))


if __name__ == "__main__":
    main()
