"""What every token verifier is, and the one decode all of them use.

A service verifies identity's tokens against the published JWKS (`JWKSVerifier`); identity
verifies its own with its key ring and database (its `LocalVerifier`). Both are a
`TokenVerifier`, which `mch_common.runtime.service_lifespan(verifier=...)` builds, and both
turn a token into claims with `decode_token`, so the algorithm allow-list, the `kid`, issuer,
audience, leeway, required claims and the error messages are the same everywhere. Only where
the key comes from differs (`key_for`).
"""

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Collection
from typing import Any, NamedTuple, Protocol

import jwt

from mch_common.auth.principal import Principal
from mch_common.errors import Unauthorized

REQUIRED_CLAIMS = ("sub", "tenant", "scope", "jti", "exp", "iat")
DEFAULT_LEEWAY = 10.0
# A service client's token has `sub` = "svc:<client_id>"; a staff token's `sub` is a user id.
SERVICE_SUBJECT_PREFIX = "svc:"

_PYJWT = jwt.PyJWT()
# Built once: decode_token runs on every request whose token is not cached yet.
_OPTIONS: Any = {"require": list(REQUIRED_CLAIMS)}
_OPTIONS_EXPIRED_TOO: Any = {**_OPTIONS, "verify_exp": False}


class TokenVerifier(Protocol):
    """Turns a bearer token into a Principal, or raises Unauthorized saying why."""

    async def verify(self, token: str) -> Principal: ...

    async def close(self) -> None: ...


class DecodedToken(NamedTuple):
    kid: str
    claims: dict[str, Any]


def service_subject(client_id: str) -> str:
    """The `sub` of a service client's tokens (and the actor of its audit records)."""
    return f"{SERVICE_SUBJECT_PREFIX}{client_id}"


def client_id_of(sub: str) -> str | None:
    """The client id of a service subject; None for a staff subject."""
    return sub[len(SERVICE_SUBJECT_PREFIX) :] if sub.startswith(SERVICE_SUBJECT_PREFIX) else None


async def decode_token(
    token: str,
    *,
    key_for: Callable[[str], Awaitable[Any]],
    algorithms: Collection[str],
    issuer: str,
    audience: str,
    leeway: float = DEFAULT_LEEWAY,
    verify_exp: bool = True,
) -> DecodedToken:
    """Check the header's algorithm against the allow-list, get the key named by its `kid`
    (`key_for` raises Unauthorized for an unknown one), then verify signature and claims.
    `verify_exp=False` is for revoking a token that may have expired meanwhile."""
    header = _unverified_header(token)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise Unauthorized("signing algorithm not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthorized("token names no signing key")
    key = await key_for(kid)
    try:
        claims: dict[str, Any] = _PYJWT.decode(
            token,
            key=key,
            algorithms=list(algorithms),
            audience=audience,
            issuer=issuer,
            leeway=leeway,
            options=_OPTIONS if verify_exp else _OPTIONS_EXPIRED_TOO,
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired") from None
    except jwt.InvalidAudienceError:
        raise Unauthorized("wrong audience") from None
    except jwt.InvalidIssuerError:
        raise Unauthorized("wrong issuer") from None
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthorized(f"token lacks claim {exc.claim}") from None
    except jwt.ImmatureSignatureError:
        raise Unauthorized("token not yet valid") from None
    except jwt.InvalidIssuedAtError:
        raise Unauthorized("malformed claim iat") from None
    except jwt.InvalidSignatureError:
        raise Unauthorized("bad signature") from None
    except jwt.InvalidAlgorithmError:
        raise Unauthorized("signing algorithm not allowed") from None
    except jwt.PyJWTError:
        raise Unauthorized("malformed token") from None
    return DecodedToken(kid, claims)


def _unverified_header(token: str) -> dict[str, Any]:
    """Only to choose the key; nothing in it is trusted until the signature checks."""
    head, dot, _ = token.partition(".")
    if not dot or not head:
        raise Unauthorized("malformed token")
    try:
        raw = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
        header = json.loads(raw)
    except (binascii.Error, ValueError):
        raise Unauthorized("malformed token") from None
    if not isinstance(header, dict):
        raise Unauthorized("malformed token")
    return header
