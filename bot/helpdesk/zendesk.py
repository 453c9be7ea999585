"""ZendeskClient: posts the bot's answer on a ticket through Zendesk's Tickets API.

A comment is added by updating the ticket (`PUT /api/v2/tickets/{id}.json` with
`{"ticket": {"comment": {"body": ..., "public": false}}}`), authenticated as
`{email}/token:{api_token}` with HTTP Basic. `public: false` is an internal note that
only agents see; `public: true` is a reply the requester receives.
"""

from __future__ import annotations

import httpx

from bot.errors import BackendUnavailable, ConfigurationError, InvalidRequest
from bot.security.integrations import ZendeskAccount


class ZendeskClient:
    def __init__(self, http: httpx.AsyncClient, account: ZendeskAccount) -> None:
        self._http = http
        self._base_url = account.base_url.rstrip("/")
        self._auth = httpx.BasicAuth(f"{account.email}/token", account.api_token.get_secret_value())

    async def add_comment(self, ticket_id: int, body: str, *, public: bool) -> None:
        url = f"{self._base_url}/api/v2/tickets/{ticket_id}.json"
        payload = {"ticket": {"comment": {"body": body, "public": public}}}
        try:
            response = await self._http.put(url, json=payload, auth=self._auth)
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"Zendesk API unreachable: {type(exc).__name__}") from exc
        status = response.status_code
        if response.is_success:
            return
        if status == 429 or status >= 500:
            retry = response.headers.get("Retry-After", "")
            raise BackendUnavailable(
                f"Zendesk API answered {status}; try again later",
                retry_after_s=int(retry) if retry.isdigit() else 30,
            )
        if status in (401, 403):
            raise ConfigurationError(
                f"Zendesk refused the API token ({status}); check the account's email and "
                "api_token in SUPPORTBOT_ZENDESK_ACCOUNTS"
            )
        raise InvalidRequest(f"Zendesk could not update ticket {ticket_id} ({status})")
