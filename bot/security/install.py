"""install_security(app): the request-edge middlewares, outermost first.

CORS (so that every answer, errors included, is readable by an allowed page), then the
body size cap, then authentication, widget scoping and rate limits.
"""

from __future__ import annotations

from fastapi import FastAPI

from bot.security.access import AccessMiddleware
from bot.security.body_limit import BodySizeLimitMiddleware
from bot.security.cors import KeyedCorsMiddleware


def install_security(app: FastAPI) -> None:
    # add_middleware puts each new middleware outside the ones added before it.
    app.add_middleware(AccessMiddleware)
    app.add_middleware(BodySizeLimitMiddleware)
    app.add_middleware(KeyedCorsMiddleware)
