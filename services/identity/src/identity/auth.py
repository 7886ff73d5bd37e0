"""How identity verifies its own tokens on its admin endpoints.

Other services verify against the published JWKS and learn revocations from events. Identity
holds the truth, so it verifies with its in-memory key ring (no HTTP to itself) and then checks
the database: revoked token ids, and for staff the user's current status and
`tokens_valid_after`. A revocation therefore takes effect in identity the moment it commits.
It replaces `app.state.verifier`, so mch_common.auth.deps.require_scope works unchanged.
"""

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.keys.service import ALGORITHM, KeyRing
from identity.tokens.models import RevokedToken, ServiceClient
from identity.users.models import User, UserStatus
from mch_common.auth.jwt import REQUIRED_CLAIMS, principal_from_claims
from mch_common.auth.principal import Principal
from mch_common.errors import Unauthorized

LEEWAY = 10.0
UNKNOWN_KID_RELOAD_INTERVAL = 5.0


class LocalVerifier:
    def __init__(
        self,
        *,
        keyring: KeyRing,
        sessions: Callable[[], async_sessionmaker[AsyncSession]],
        issuer: str,
        audience: str,
    ) -> None:
        self._keyring = keyring
        self._sessions = sessions
        self._issuer = issuer
        self._audience = audience
        self._last_reload = 0.0
        self._options: Any = {"require": list(REQUIRED_CLAIMS)}

    async def verify(self, token: str) -> Principal:
        claims = await self.decode(token)
        principal = principal_from_claims(claims)
        async with self._sessions()() as session:
            await self._refuse_if_revoked(session, principal, claims)
        return principal

    async def decode(self, token: str, *, verify_exp: bool = True) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("malformed token") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthorized("signing algorithm not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthorized("token names no signing key")
        key = self._keyring.public_key(kid)
        if key is None and time.monotonic() - self._last_reload > UNKNOWN_KID_RELOAD_INTERVAL:
            self._last_reload = time.monotonic()
            await self._keyring.reload(self._sessions())
            key = self._keyring.public_key(kid)
        if key is None:
            raise Unauthorized("unknown signing key")
        options: Any = {**self._options, "verify_exp": verify_exp}
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY,
                options=options,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("invalid token") from None
        return claims

    async def _refuse_if_revoked(
        self, session: AsyncSession, principal: Principal, claims: dict[str, Any]
    ) -> None:
        if await session.get(RevokedToken, principal.jti) is not None:
            raise Unauthorized("token revoked")
        if principal.is_service:
            client = await session.get(ServiceClient, principal.sub.removeprefix("svc:"))
            if client is None or not client.active:
                raise Unauthorized("token revoked")
            if client.tokens_valid_after is not None:
                issued = datetime.fromtimestamp(float(claims["iat"]), UTC)
                if issued < client.tokens_valid_after:
                    raise Unauthorized("token revoked")
            return
        try:
            user_id = uuid.UUID(principal.sub)
        except ValueError:
            raise Unauthorized("unknown subject") from None
        user = (await session.execute(select(User).where(User.id == user_id))).scalar_one_or_none()
        if user is None or user.deleted_at is not None or user.status != UserStatus.ACTIVE:
            raise Unauthorized("token revoked")
        if user.tokens_valid_after is not None:
            issued = datetime.fromtimestamp(float(claims["iat"]), UTC)
            if issued < user.tokens_valid_after:
                raise Unauthorized("token revoked")

    async def close(self) -> None:
        return None
