"""`AdminDep`: every /admin route needs an admin key.

Accepted: SUPPORTBOT_ADMIN_API_KEY, or an admin key from the hashed keys file, sent as
`Authorization: Bearer <key>` or `X-Supportbot-Key`. No key → 401, a key that does not
verify → 401, a valid widget key → 403. The check runs here rather than in the /v1
access middleware, so the admin API is closed whatever middlewares are installed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from bot.api.deps import get_services
from bot.errors import Forbidden, Unauthorized
from bot.security.principal import Principal, authenticate, presented_key


def require_admin_key(request: Request) -> Principal:
    services = get_services(request)
    settings = services.settings
    env_key = settings.admin_api_key.get_secret_value() if settings.admin_api_key else None
    presented = presented_key({name.lower(): value for name, value in request.headers.items()})
    if presented is None:
        raise Unauthorized(
            "the admin API needs an admin key: send `Authorization: Bearer <key>` with "
            "SUPPORTBOT_ADMIN_API_KEY or an admin key created with `supportbot keys`",
            "missing_api_key",
        )
    principal = authenticate(
        presented, services.edge.keystore, admin_api_key=env_key, require_keys=True
    )
    if not principal.is_admin:
        raise Forbidden("the admin API needs an admin key, not a widget key", "admin_key_required")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin_key)]
