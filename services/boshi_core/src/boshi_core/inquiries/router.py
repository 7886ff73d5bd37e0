from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import Query

from boshi_core.deps import RequestReader, RequestWriter
from boshi_core.inquiries import service
from boshi_core.inquiries.schemas import AnswerIn, Channel, InquiryIn, InquiryOut, InquiryPageOut
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(prefix="/inquiries", tags=["inquiries"])


@router.post("", status_code=201, summary="Record an inquiry's receipt (問合せの受付)")
async def receive(body: InquiryIn, session: Session, principal: RequestWriter) -> InquiryOut:
    inquiry = await service.receive(
        session,
        principal=principal,
        channel=body.channel,
        question=body.question,
        person_no=body.person_no,
        received_at=body.received_at,
    )
    return InquiryOut.model_validate(inquiry)


@router.post("/{inquiry_id}/answer", summary="Record the answer, who answered and when (回答)")
async def answer(
    inquiry_id: UUID, body: AnswerIn, session: Session, principal: RequestWriter
) -> InquiryOut:
    inquiry = await service.answer(
        session, principal=principal, inquiry_id=inquiry_id, text=body.answer
    )
    return InquiryOut.model_validate(inquiry)


@router.get("", summary="Search the inquiry log, newest first, paged (問合せ記録)")
async def search(
    session: Session,
    principal: RequestReader,
    q: Annotated[
        str | None, Query(max_length=100, description="text in question or answer")
    ] = None,
    person_no: Annotated[str | None, Query(pattern=r"^\d{10}$")] = None,
    channel: Channel | None = None,
    unanswered: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> InquiryPageOut:
    page = await service.search(
        session,
        principal=principal,
        text=q,
        person_no=person_no,
        channel=channel,
        unanswered=unanswered,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    return InquiryPageOut(
        items=[InquiryOut.model_validate(i) for i in page.items], next_cursor=page.next_cursor
    )
