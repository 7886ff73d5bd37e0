"""Queries on signing keys."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from identity.keys.models import SigningKey

# One rotation at a time, in every identity process.
_ROTATION_LOCK = text("SELECT pg_advisory_xact_lock(7340101)")


async def lock_rotation(session: AsyncSession) -> None:
    await session.execute(_ROTATION_LOCK)


async def active_key(session: AsyncSession) -> SigningKey | None:
    return (
        await session.execute(
            select(SigningKey)
            .where(SigningKey.retired_at.is_(None))
            .order_by(SigningKey.created_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def active_keys(session: AsyncSession) -> Sequence[SigningKey]:
    rows = await session.execute(select(SigningKey).where(SigningKey.retired_at.is_(None)))
    return rows.scalars().all()


async def published_keys(session: AsyncSession, *, now: datetime) -> list[SigningKey]:
    rows = await session.execute(
        select(SigningKey)
        .where(or_(SigningKey.publish_until.is_(None), SigningKey.publish_until > now))
        .order_by(SigningKey.created_at.desc())
    )
    return list(rows.scalars())
