"""Queries on user-list reviews."""

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.reviews.models import UserReview

# Reviews are numbered in sequence: one is made at a time.
_REVIEW_LOCK = select(func.pg_advisory_xact_lock(7340102))


async def lock_numbering(session: AsyncSession) -> None:
    await session.execute(_REVIEW_LOCK)


async def last_review(session: AsyncSession) -> UserReview | None:
    return (
        await session.execute(select(UserReview).order_by(UserReview.number.desc()).limit(1))
    ).scalar_one_or_none()


async def list_reviews(session: AsyncSession) -> Sequence[UserReview]:
    rows = await session.execute(select(UserReview).order_by(UserReview.number.desc()))
    return rows.scalars().all()
