"""API key format and hashing.

A key reads `<prefix>_<id>_<secret>`: `sk` for admin keys, `pk` for public widget keys.
The id finds the stored record; only a salted SHA-256 of the secret is stored, and the
comparison is constant-time. Secrets are 32 random bytes, so a fast hash is enough:
there is nothing to brute-force that a slow KDF would protect.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal

KeyKind = Literal["admin", "widget"]

PREFIX_BY_KIND: dict[KeyKind, str] = {"admin": "sk", "widget": "pk"}
KIND_BY_PREFIX: dict[str, KeyKind] = {prefix: kind for kind, prefix in PREFIX_BY_KIND.items()}

_KEY_PATTERN = re.compile(r"^(sk|pk)_([a-z0-9]{12})_([A-Za-z0-9]{32,64})$")
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_SECRET_ALPHABET = _ID_ALPHABET + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True, slots=True)
class ParsedKey:
    kind: KeyKind
    key_id: str
    secret: str


def looks_like_key(value: str) -> bool:
    """True for strings in our key format (`sk_…`, `pk_…`); other bearer tokens are not ours."""
    return value.startswith(("sk_", "pk_"))


def parse_key(value: str) -> ParsedKey | None:
    match = _KEY_PATTERN.fullmatch(value.strip())
    if match is None:
        return None
    prefix, key_id, secret = match.groups()
    return ParsedKey(KIND_BY_PREFIX[prefix], key_id, secret)


def new_key(kind: KeyKind) -> ParsedKey:
    """A fresh random key; its plaintext is shown once and never stored."""
    key_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    return ParsedKey(kind, key_id, secret)


def render_key(key: ParsedKey) -> str:
    return f"{PREFIX_BY_KIND[key.kind]}_{key.key_id}_{key.secret}"


def new_salt() -> str:
    return secrets.token_hex(16)


def hash_secret(secret: str, salt: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def secret_matches(secret: str, salt: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret, salt), stored_hash)


def same_secret(given: str, expected: str) -> bool:
    """Constant-time equality for configured plaintext secrets (e.g. SUPPORTBOT_ADMIN_API_KEY)."""
    given_digest = hashlib.sha256(given.encode()).digest()
    expected_digest = hashlib.sha256(expected.encode()).digest()
    return hmac.compare_digest(given_digest, expected_digest)
