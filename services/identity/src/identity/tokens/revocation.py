"""Revoking tokens: RFC 7009 revocation, logout, refresh-token families, expired rows."""

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from identity.auth import LocalVerifier
from identity.context import IdentityContext
from identity.crypto import token_digest
from identity.events import emit_token_revoked
from identity.tokens import repository
from mch_common.auth.principal import Principal
from mch_common.errors import Unauthorized
from mch_common.work import UnitOfWork


async def revoke_family(
    session: AsyncSession, ctx: IdentityContext, *, family_id: uuid.UUID, reason: str
) -> int:
    """Revoke every refresh token of the family and every access token it issued that is
    still alive; returns how many access tokens were revoked."""
    now = datetime.now(UTC)
    revoked = 0
    for member in await repository.family_members(session, family_id):
        if member.revoked_at is None:
            member.revoked_at = now
        if member.access_exp > now and await _revoke_jti(
            session, ctx, jti=member.access_jti, exp=member.access_exp, reason=reason
        ):
            revoked += 1
    return revoked


async def _revoke_jti(
    session: AsyncSession, ctx: IdentityContext, *, jti: str, exp: datetime, reason: str
) -> bool:
    if not await repository.add_revoked_jti(session, jti=jti, exp=exp, reason=reason):
        return False
    emit_token_revoked(session, tenant=ctx.settings.tenant, jti=jti, exp=exp)
    return True


async def revoke(
    session: AsyncSession, ctx: IdentityContext, verifier: LocalVerifier, *, token: str
) -> None:
    """RFC 7009: revoke a refresh token (its whole family) or an access token; an unknown or
    invalid token is not an error (the answer must not tell which tokens exist)."""
    stored = await repository.refresh_token_by_digest(session, token_digest(token))
    if stored is not None:
        count = await revoke_family(session, ctx, family_id=stored.family_id, reason="revoked")
        UnitOfWork.of(session).record(
            actor=str(stored.user_id),
            terminal=stored.terminal_id,
            action="identity.token.revoke",
            target_type="staff_user",
            target_id=str(stored.user_id),
            detail={"family_id": str(stored.family_id), "access_tokens_revoked": count},
        )
        return
    try:
        claims = await verifier.decode(token)
    except Unauthorized:
        return
    exp = datetime.fromtimestamp(float(claims["exp"]), UTC)
    await _revoke_jti(session, ctx, jti=str(claims["jti"]), exp=exp, reason="revoked")
    UnitOfWork.of(session).record(
        actor=str(claims["sub"]),
        terminal=claims.get("terminal"),
        action="identity.token.revoke",
        detail={"jti": claims["jti"]},
    )


async def logout(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    principal: Principal,
    refresh_token: str | None,
) -> None:
    """Revoke the caller's access token and its session (the refresh-token family)."""
    family_ids = (
        await repository.families_of_access_token(session, principal.jti)
        if principal.jti
        else set()
    )
    if refresh_token:
        family = await repository.family_of_users_token(
            session, token_digest(refresh_token), _uuid_or_none(principal.sub)
        )
        if family is not None:
            family_ids.add(family)
    for family_id in family_ids:
        await revoke_family(session, ctx, family_id=family_id, reason="logout")
    exp_claim = principal.claims.get("exp")
    if principal.jti and isinstance(exp_claim, int | float):
        await _revoke_jti(
            session,
            ctx,
            jti=principal.jti,
            exp=datetime.fromtimestamp(float(exp_claim), UTC),
            reason="logout",
        )
    UnitOfWork.of(session).record(
        actor=principal.sub,
        terminal=principal.terminal,
        action="identity.logout",
        target_type="staff_user" if not principal.is_service else None,
        target_id=principal.sub,
        detail={"sessions_ended": len(family_ids)},
    )


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def purge_expired(session: AsyncSession) -> None:
    """Drop revoked-token rows and refresh tokens that can no longer matter."""
    await repository.purge_expired(session, now=datetime.now(UTC))
