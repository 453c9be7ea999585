"""Configuration of the helpdesk integrations, read from settings as JSON.

Webhook signing secrets and helpdesk API tokens must be usable in plaintext (an HMAC needs
the secret itself), so they live with the other secrets in the environment, as
`SecretStr`, never in the hashed keys file:

    SUPPORTBOT_ZENDESK_ACCOUNTS='[{"account_id": 123, "kb": "acme",
        "base_url": "https://acme.zendesk.com", "email": "bot@acme.com",
        "api_token": "...", "webhook_secret": "...", "trigger_webhook_secret": "..."}]'
    SUPPORTBOT_GENERIC_WEBHOOKS='[{"name": "crm", "kb": "acme", "secret": "...",
        "callback_url_prefixes": ["https://crm.acme.com/hooks/"]}]'
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class ZendeskAccount(BaseModel):
    """One Zendesk account whose tickets the bot answers from one knowledge base."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: int = Field(
        description="Zendesk's numeric account id (in every event, and in the "
        "X-Zendesk-Account-Id header of every webhook request)."
    )
    kb: str
    base_url: str = Field(description="https://<subdomain>.zendesk.com (no trailing path).")
    email: str = Field(
        description="Agent email the API token belongs to; notes are posted as them."
    )
    api_token: SecretStr
    webhook_secret: SecretStr = Field(description="The webhook's signing secret in Zendesk.")
    trigger_webhook_secret: SecretStr | None = Field(
        None,
        description="Signing secret of the webhook connected to triggers/automations (Zendesk "
        "won't connect an event-subscribed webhook to a trigger, so it is a second webhook). "
        "Unset: webhook_secret.",
    )
    public_replies: bool = Field(
        False, description="Allow public replies at all; otherwise every answer is a private note."
    )
    public_reply_min_score: float = Field(
        0.6, description="Best rerank score needed before an answer goes out as a public reply."
    )

    def trigger_secret(self) -> str:
        secret = self.trigger_webhook_secret or self.webhook_secret
        return secret.get_secret_value()


class GenericWebhook(BaseModel):
    """A client of the generic webhook contract: its name, knowledge base and shared secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    kb: str
    secret: SecretStr
    callback_url_prefixes: tuple[str, ...] = Field(
        (), description="Callbacks may only go to URLs starting with one of these."
    )


def zendesk_account(accounts: list[ZendeskAccount], account_id: int) -> ZendeskAccount | None:
    return next((a for a in accounts if a.account_id == account_id), None)


def generic_webhook(webhooks: list[GenericWebhook], name: str) -> GenericWebhook | None:
    return next((w for w in webhooks if w.name == name), None)
