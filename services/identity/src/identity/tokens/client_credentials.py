"""The client_credentials grant: a service's own token (its scopes are data, see clients)."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.clients.simulated import tenant_of_client
from identity.context import IdentityContext
from identity.crypto import client_secret_matches
from identity.errors import InvalidClient
from identity.tokens.issuing import (
    TokenSet,
    commit_then_raise,
    narrow_scopes,
    new_jti,
    time_claims,
)
from identity.tokens.models import ServiceClient
from mch_common.auth.verifier import service_subject
from mch_common.work import UnitOfWork


async def client_credentials_grant(
    sessions: async_sessionmaker[AsyncSession],
    ctx: IdentityContext,
    *,
    client_id: str,
    client_secret: str,
    requested_scope: str | None,
) -> TokenSet:
    async def work(session: AsyncSession) -> TokenSet:
        client = await session.get(ServiceClient, client_id)
        ok = client_secret_matches(client.secret_hash if client else None, client_secret)
        if client is None or not ok or not client.active:
            UnitOfWork.of(session).record(
                actor=service_subject(client_id[:50]),
                action="identity.client.token",
                outcome="failure",
                detail={"reason": "invalid_client"},
            )
            raise InvalidClient("Unknown client, wrong secret or deactivated client.")
        scopes = narrow_scopes(sorted(client.scopes), requested_scope)
        claims: dict[str, Any] = {
            "iss": ctx.settings.jwt_issuer,
            "aud": ctx.settings.jwt_audience,
            "sub": service_subject(client.client_id),
            "client_id": client.client_id,
            "tenant": tenant_of_client(client.client_id, ctx.settings),
            "dept": None,
            "ward": None,
            "roles": [],
            "scope": " ".join(scopes),
            "terminal": None,
            "jti": new_jti(),
            **time_claims(datetime.now(UTC), ctx.settings.service_token_ttl_seconds),
        }
        UnitOfWork.of(session).record(
            actor=claims["sub"],
            action="identity.client.token",
            detail={"scope": claims["scope"], "jti": claims["jti"]},
        )
        return TokenSet(
            access_token=ctx.keyring.sign(claims),
            expires_in=ctx.settings.service_token_ttl_seconds,
            scope=claims["scope"],
        )

    return await commit_then_raise(sessions, work)
