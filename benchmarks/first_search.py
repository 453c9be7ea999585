"""The first search of a freshly started process, after `build_services` (what a server
does before taking requests), and a second one; and whether torch got imported.

    SUPPORTBOT_DATA_DIR=DIR .venv/bin/python -m benchmarks.first_search KB "QUESTION" "QUESTION"

Run it a few times: the first search pays for whatever the request path loads lazily.
"""

from __future__ import annotations

import asyncio
import sys
import time

from bot.services import build_services
from bot.settings import Settings


async def main(kb: str, first: str, second: str) -> None:
    services = build_services(Settings())
    timings = []
    for question in (first, second):
        started = time.perf_counter()
        await services.pipeline.search(kb, question, top_k=10)
        timings.append((time.perf_counter() - started) * 1000)
    print(
        f"first search {timings[0]:.0f} ms, second {timings[1]:.0f} ms; "
        f"torch imported: {'torch' in sys.modules}"
    )
    await services.aclose()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    asyncio.run(main(*sys.argv[1:4]))
