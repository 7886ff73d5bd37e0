"""Queries on refresh tokens and revoked access-token ids."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from identity.tokens.models import RefreshToken, RevokedToken


async def refresh_token_by_digest(
    session: AsyncSession, digest: str, *, for_update: bool = False
) -> RefreshToken | None:
    stmt = select(RefreshToken).where(RefreshToken.token_hash == digest)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def family_members(session: AsyncSession, family_id: uuid.UUID) -> Sequence[RefreshToken]:
    rows = await session.execute(select(RefreshToken).where(RefreshToken.family_id == family_id))
    return rows.scalars().all()


async def families_of_access_token(session: AsyncSession, jti: str) -> set[uuid.UUID]:
    rows = await session.execute(
        select(RefreshToken.family_id).where(RefreshToken.access_jti == jti)
    )
    return set(rows.scalars())


async def family_of_users_token(
    session: AsyncSession, digest: str, user_id: uuid.UUID | None
) -> uuid.UUID | None:
    rows = await session.execute(
        select(RefreshToken.family_id).where(
            RefreshToken.token_hash == digest, RefreshToken.user_id == user_id
        )
    )
    return rows.scalar_one_or_none()


async def add_revoked_jti(session: AsyncSession, *, jti: str, exp: datetime, reason: str) -> bool:
    """False when the token id was already revoked."""
    inserted = await session.execute(
        insert(RevokedToken)
        .values(jti=jti, exp=exp, reason=reason)
        .on_conflict_do_nothing()
        .returning(RevokedToken.jti)
    )
    return inserted.scalar_one_or_none() is not None


async def revoke_users_refresh_tokens(
    session: AsyncSession, *, user_id: uuid.UUID, at: datetime
) -> datetime | None:
    """Revoke the user's live refresh tokens; returns when the newest of them was issued (the
    `iat` of the newest access token the user may still hold), or None."""
    newest = (
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=at)
        .returning(RefreshToken.issued_at)
        .cte("revoked")
    )
    issued_at: datetime | None = (
        await session.execute(select(func.max(newest.c.issued_at)))
    ).scalar_one()
    return issued_at


async def purge_expired(session: AsyncSession, *, now: datetime) -> None:
    await session.execute(delete(RevokedToken).where(RevokedToken.exp < now))
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.expires_at < now, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
