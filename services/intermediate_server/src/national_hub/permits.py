"""Permits (情報提供許可証): EdDSA-signed JWTs, short-lived, bound to requester, provider, the
provider's 符号, the legal clause and the items. Single use is the provider's check (it keeps
the `jti` of every permit it honoured)."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ISSUER = "urn:mch:national-hub"
ALGORITHM = "EdDSA"
_REQUIRED = ["iss", "aud", "sub", "jti", "iat", "exp", "requester", "clause", "items"]


class InvalidPermit(Exception):
    """The permit is not one the hub issued for this provision (`reason` says which check)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Permit:
    jti: uuid.UUID
    requester: str
    provider: str
    provider_code: str
    clause: str
    items: tuple[str, ...]
    expires_at: datetime


def sign_permit(permit: Permit, *, key: Ed25519PrivateKey, key_id: str, issued_at: datetime) -> str:
    claims = {
        "iss": ISSUER,
        "aud": permit.provider,
        "sub": permit.provider_code,
        "jti": str(permit.jti),
        "iat": int(issued_at.timestamp()),
        "exp": int(permit.expires_at.timestamp()),
        "requester": permit.requester,
        "clause": permit.clause,
        "items": list(permit.items),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": key_id})


def verify_permit(token: str, *, key: Ed25519PublicKey, provider: str) -> Permit:
    """The permit's claims if the hub signed it for `provider` and it has not expired."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=provider,
            issuer=ISSUER,
            options={"require": _REQUIRED},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidPermit("the permit has expired") from None
    except jwt.InvalidAudienceError:
        raise InvalidPermit("the permit is for another provider") from None
    except jwt.InvalidSignatureError:
        raise InvalidPermit("the permit's signature is not the hub's") from None
    except jwt.PyJWTError:
        raise InvalidPermit("the permit is malformed") from None
    items = claims["items"]
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise InvalidPermit("the permit is malformed")
    return Permit(
        jti=uuid.UUID(str(claims["jti"])),
        requester=str(claims["requester"]),
        provider=provider,
        provider_code=str(claims["sub"]),
        clause=str(claims["clause"]),
        items=tuple(items),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
    )
