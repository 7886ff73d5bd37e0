from datetime import datetime
from uuid import UUID

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.inquiries.models import Inquiry


async def for_update(session: AsyncSession, inquiry_id: UUID) -> Inquiry | None:
    stmt = select(Inquiry).where(Inquiry.id == inquiry_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search(
    session: AsyncSession,
    *,
    text: str | None,
    person_no: str | None,
    channel: str | None,
    unanswered: bool,
    since: datetime | None,
    until: datetime | None,
    before: tuple[datetime, UUID] | None,
    limit: int,
) -> list[Inquiry]:
    stmt = select(Inquiry)
    if text:
        pattern = f"%{_escaped(text)}%"
        stmt = stmt.where(
            Inquiry.question.ilike(pattern, escape="\\")
            | Inquiry.answer.ilike(pattern, escape="\\")
        )
    if person_no is not None:
        stmt = stmt.where(Inquiry.person_no == person_no)
    if channel is not None:
        stmt = stmt.where(Inquiry.channel == channel)
    if unanswered:
        stmt = stmt.where(Inquiry.answered_at.is_(None))
    if since is not None:
        stmt = stmt.where(Inquiry.received_at >= since)
    if until is not None:
        stmt = stmt.where(Inquiry.received_at < until)
    if before is not None:
        stmt = stmt.where(tuple_(Inquiry.received_at, Inquiry.id) < tuple_(*before))
    stmt = stmt.order_by(Inquiry.received_at.desc(), Inquiry.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())
