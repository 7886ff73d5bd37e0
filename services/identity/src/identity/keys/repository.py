"""Queries on signing keys."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.keys.models import SigningKey


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
