"""How identity verifies its own tokens on its admin endpoints.

Other services verify against the published JWKS and learn revocations from events. Identity
holds the truth, so it verifies with its in-memory key ring (no HTTP to itself) and then checks
the database: revoked token ids, and for staff the user's current status and
`tokens_valid_after`. A revocation therefore takes effect in identity the moment it commits.
It is identity's `TokenVerifier` (main.py passes it to service_lifespan), and it decodes with
mch_common's decode_token like every other service's verifier.
"""

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.keys.service import ALGORITHM, KeyRing
from identity.tokens.models import RevokedToken, ServiceClient
from identity.users.models import User, UserStatus
from mch_common.auth.jwt import principal_from_claims
from mch_common.auth.principal import Principal
from mch_common.auth.verifier import client_id_of, decode_token
from mch_common.errors import Unauthorized

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

    async def verify(self, token: str) -> Principal:
        claims = await self.decode(token)
        principal = principal_from_claims(claims)
        async with self._sessions()() as session:
            await self._refuse_if_revoked(session, principal, claims)
        return principal

    async def decode(self, token: str, *, verify_exp: bool = True) -> dict[str, Any]:
        decoded = await decode_token(
            token,
            key_for=self._key_for,
            algorithms=(ALGORITHM,),
            issuer=self._issuer,
            audience=self._audience,
            verify_exp=verify_exp,
        )
        return decoded.claims

    async def _key_for(self, kid: str) -> ec.EllipticCurvePublicKey:
        key = self._keyring.public_key(kid)
        if key is None and time.monotonic() - self._last_reload > UNKNOWN_KID_RELOAD_INTERVAL:
            self._last_reload = time.monotonic()
            await self._keyring.reload(self._sessions())
            key = self._keyring.public_key(kid)
        if key is None:
            raise Unauthorized("unknown signing key")
        return key

    async def _refuse_if_revoked(
        self, session: AsyncSession, principal: Principal, claims: dict[str, Any]
    ) -> None:
        if await session.get(RevokedToken, principal.jti) is not None:
            raise Unauthorized("token revoked")
        if principal.is_service:
            client_id = client_id_of(principal.sub)
            client = await session.get(ServiceClient, client_id) if client_id is not None else None
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
        user = await session.get(User, user_id)
        if user is None or user.deleted_at is not None or user.status != UserStatus.ACTIVE:
            raise Unauthorized("token revoked")
        if user.tokens_valid_after is not None:
            issued = datetime.fromtimestamp(float(claims["iat"]), UTC)
            if issued < user.tokens_valid_after:
                raise Unauthorized("token revoked")

    async def close(self) -> None:
        return None
