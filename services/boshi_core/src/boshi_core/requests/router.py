from datetime import date
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import Query
from fastapi.responses import Response

from boshi_core.deps import AppSettings, Immunization, RequestReader, RequestWriter, Sources
from boshi_core.platform_disclosure.service import sections
from boshi_core.requests import fulfilment, service
from boshi_core.requests.schemas import (
    CorrectionOut,
    DecisionIn,
    ExtensionIn,
    FulfilmentOut,
    RequestIn,
    RequestOut,
    RequestPageOut,
)
from mch_common.openapi import problem_responses
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(prefix="/requests", tags=["requests"])


@router.post(
    "",
    status_code=201,
    summary="Register a disclosure, correction or suspension request (開示・訂正・利用停止請求)",
    description="The deadline is 30 days from receipt (the day of receipt not counted; a last "
    "day on which the city's offices are closed moves to the next open day). A correction's "
    "items are checked now: each names a correctable field of a record of the person.",
    responses=problem_responses(404),
)
async def receive(body: RequestIn, session: Session, principal: RequestWriter) -> RequestOut:
    request = await service.receive(
        session,
        principal=principal,
        person_no=body.person_no,
        kind=body.kind,
        requester=body.requester.model_dump(exclude_none=True),
        asked=body.asked,
        items={
            "corrections": [item.model_dump() for item in body.corrections],
            "uses": list(body.uses),
            "lift": body.lift,
        },
        received_on=body.received_on,
    )
    return RequestOut.model_validate(request)


@router.get(
    "/overdue",
    summary="Undecided requests past their deadline, oldest first, paged (期限超過)",
)
async def overdue(
    session: Session,
    principal: RequestReader,
    as_of: date | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> RequestPageOut:
    page = await service.overdue(
        session, principal=principal, as_of=as_of, limit=limit, cursor=cursor
    )
    return RequestPageOut(
        items=[RequestOut.model_validate(r) for r in page.items], next_cursor=page.next_cursor
    )


@router.get("/{request_id}", summary="One request, its deadline and decision")
async def view(request_id: UUID, session: Session, principal: RequestReader) -> RequestOut:
    return RequestOut.model_validate(
        await service.view(session, principal=principal, request_id=request_id)
    )


@router.post(
    "/{request_id}/extension",
    summary="Extend the deadline once, by up to 30 days, with the reason (決定期限の延長)",
)
async def extend(
    request_id: UUID, body: ExtensionIn, session: Session, principal: RequestWriter
) -> RequestOut:
    request = await service.extend(
        session,
        principal=principal,
        request_id=request_id,
        extended_to=body.extended_to,
        reason=body.reason,
        notified_on=body.notified_on,
    )
    return RequestOut.model_validate(request)


@router.post(
    "/{request_id}/decision",
    summary="Decide: full, partial (the withheld parts and why) or refusal (決定)",
    description="A partial disclosure withholds export sections (each service's records, "
    "`access_log`); a partial correction withholds item numbers (from 1); a partial "
    "suspension withholds uses.",
)
async def decide(
    request_id: UUID,
    body: DecisionIn,
    session: Session,
    principal: RequestWriter,
    sources: Sources,
) -> RequestOut:
    request = await service.decide(
        session,
        principal=principal,
        request_id=request_id,
        outcome=body.outcome,
        decided_on=body.decided_on,
        withheld=body.withheld,
        reason=body.reason,
        disclose_staff=body.disclose_staff,
        allowed_withheld=sections(sources),
    )
    return RequestOut.model_validate(request)


@router.post(
    "/{request_id}/fulfilment",
    summary="Fulfil the decision: the export, the corrections or the suspension (実施)",
    responses=problem_responses(503),
)
async def fulfil(
    request_id: UUID,
    session: Session,
    principal: RequestWriter,
    sources: Sources,
    immunization: Immunization,
) -> FulfilmentOut:
    done = await fulfilment.fulfil(
        session,
        principal=principal,
        request_id=request_id,
        sources=sources,
        immunization=immunization,
    )
    return FulfilmentOut(request=RequestOut.model_validate(done.request), summary=done.summary)


@router.get(
    "/{request_id}/export",
    summary="The disclosure export as delivered, JSON (開示の実施)",
)
async def export(request_id: UUID, session: Session, principal: RequestReader) -> dict[str, Any]:
    return await fulfilment.export_of(session, principal=principal, request_id=request_id)


@router.get(
    "/{request_id}/export.pdf",
    summary="The disclosure export as the PDF the person receives (開示の実施)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def export_pdf(
    request_id: UUID, session: Session, principal: RequestReader, settings: AppSettings
) -> Response:
    body = await fulfilment.export_pdf(
        session,
        principal=principal,
        request_id=request_id,
        font_path=Path(settings.pdf_font_path) if settings.pdf_font_path else None,
    )
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="disclosure-{request_id}.pdf"'},
    )


@router.get(
    "/{request_id}/corrections",
    summary="The corrections a request made, with each previous value (訂正の記録)",
)
async def corrections_made(
    request_id: UUID, session: Session, principal: RequestReader
) -> list[CorrectionOut]:
    made = await fulfilment.corrections_of(session, principal=principal, request_id=request_id)
    return [CorrectionOut.model_validate(c) for c in made]
