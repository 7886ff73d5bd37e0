"""The hub's keys and secrets: `label:base64` each, the label its key id."""

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def _key(value: str) -> tuple[str, bytes]:
    label, _, b64 = value.rpartition(":")
    key = base64.b64decode(b64)
    if len(key) < 32:
        raise ValueError("a hub key must be at least 32 bytes")
    return label, key


@dataclass(frozen=True)
class HubKeys:
    """`signing_key`: Ed25519 seed of the permit signature; `code_secret`: HMAC key of the
    符号; `index_secret`: HMAC key of the hub's My Number index (the hub finds a person again
    without keeping the number)."""

    signing_key_id: str
    signing_key: Ed25519PrivateKey
    signing_key_expires_at: datetime
    code_secret: bytes
    index_secret: bytes
    permit_lifetime: timedelta = timedelta(seconds=60)

    @classmethod
    def from_config(
        cls,
        *,
        signing_key: str,
        signing_key_expires_at: datetime | None,
        code_secret: str,
        index_secret: str,
        permit_lifetime_seconds: int = 60,
    ) -> "HubKeys":
        key_id, seed = _key(signing_key)
        return cls(
            signing_key_id=key_id,
            signing_key=Ed25519PrivateKey.from_private_bytes(seed[:32]),
            signing_key_expires_at=signing_key_expires_at
            or datetime.now(UTC) + timedelta(days=365),
            code_secret=_key(code_secret)[1],
            index_secret=_key(index_secret)[1],
            permit_lifetime=timedelta(seconds=permit_lifetime_seconds),
        )
