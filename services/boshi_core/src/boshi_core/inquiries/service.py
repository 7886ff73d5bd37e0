"""The inquiry log (IV-2): receipt, answer, search; kept (no deletion route)."""

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.inquiries import repository
from boshi_core.inquiries.models import Inquiry
from boshi_core.paging import next_cursor, parse_time_cursor
from mch_common.auth.principal import Principal
from mch_common.errors import Conflict, InvalidInput, NotFound
from mch_common.work import UnitOfWork

PURPOSE = "評価書IV-2 問合せへの対応 (answering an inquiry about the file's handling)"


def _log(session: AsyncSession, principal: Principal, inquiry: Inquiry, action: str) -> None:
    UnitOfWork.of(session).record_access(
        principal,
        action=f"inquiry.{action}",
        target_type="inquiry",
        target_id=str(inquiry.id),
        purpose=PURPOSE,
        persons=[inquiry.person_no] if inquiry.person_no else [],
    )


async def receive(
    session: AsyncSession,
    *,
    principal: Principal,
    channel: str,
    question: str,
    person_no: str | None,
    received_at: datetime | None,
) -> Inquiry:
    now = datetime.now(UTC)
    if received_at is not None and received_at > now:
        raise InvalidInput("the inquiry cannot be received in the future")
    inquiry = Inquiry(
        channel=channel,
        question=question,
        person_no=person_no,
        received_at=received_at or now,
        received_by=principal.sub,
    )
    session.add(inquiry)
    await session.flush()
    _log(session, principal, inquiry, "receive")
    return inquiry


async def answer(
    session: AsyncSession, *, principal: Principal, inquiry_id: UUID, text: str
) -> Inquiry:
    inquiry = await repository.for_update(session, inquiry_id)
    if inquiry is None:
        raise NotFound("no such inquiry")
    if inquiry.answered_at is not None:
        raise Conflict("the inquiry is already answered")
    inquiry.answer = text
    inquiry.answered_by = principal.sub
    inquiry.answered_at = datetime.now(UTC)
    _log(session, principal, inquiry, "answer")
    return inquiry


@dataclass(frozen=True)
class InquiryPage:
    items: list[Inquiry]
    next_cursor: str | None


async def search(
    session: AsyncSession,
    *,
    principal: Principal,
    text: str | None,
    person_no: str | None,
    channel: str | None,
    unanswered: bool,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> InquiryPage:
    """Newest first, keyset-paged by (received_at, id)."""
    before = parse_time_cursor(cursor)
    rows = await repository.search(
        session,
        text=text,
        person_no=person_no,
        channel=channel,
        unanswered=unanswered,
        since=since,
        until=until,
        before=before,
        limit=limit + 1,
    )
    page, more = rows[:limit], len(rows) > limit
    UnitOfWork.of(session).record_access(
        principal,
        action="inquiry.search",
        target_type="inquiry_list",
        purpose=PURPOSE,
        detail={"count": len(page)},
        persons=sorted({i.person_no for i in page if i.person_no}),
    )
    last = page[-1] if more else None
    return InquiryPage(page, next_cursor((last.received_at, last.id) if last else None))
