"""Staff review (審査): extraction by conditions, open, accept, return for correction, print.
Staff never edit an application's data: the attempt is refused and recorded."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query, Request
from fastapi.responses import Response

from e_application.applications.schemas import (
    ApplicationDetailOut,
    ApplicationOut,
    ApplicationPage,
    EditIn,
    HistoryOut,
    ReturnIn,
    VersionOut,
)
from e_application.deps import IntakeDep, Reader, Reviewer
from e_application.handover.atena import AtenaClient
from e_application.review import print_pdf, service
from mch_common.errors import InvalidInput
from mch_common.openapi import problem_responses
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(prefix="/applications", tags=["review"])
Status = Annotated[str | None, Query(pattern="^(submitted|returned|accepted)$")]


async def _atena(request: Request) -> AtenaClient:
    client: AtenaClient = request.app.state.atena
    return client


Atena = Annotated[AtenaClient, Depends(_atena)]


def _after(value: str | None) -> tuple[datetime, UUID] | None:
    if value is None:
        return None
    at, _, key = value.partition("|")
    try:
        return datetime.fromisoformat(at), UUID(key)
    except ValueError:
        raise InvalidInput("after must be a previous page's next_after") from None


def _detail(opened: service.Opened) -> ApplicationDetailOut:
    return ApplicationDetailOut.model_validate(
        {
            **ApplicationOut.model_validate(opened.application).model_dump(),
            "versions": [VersionOut.model_validate(v) for v in opened.versions],
            "history": [HistoryOut.model_validate(h) for h in opened.history],
            "has_my_number": opened.has_my_number,
        }
    )


@router.get("", summary="Extract applications by conditions (抽出), paged")
async def extract(
    session: Session,
    principal: Reader,
    status: Status = None,
    procedure: Annotated[str | None, Query(max_length=40)] = None,
    ward_code: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ApplicationPage:
    rows, last = await service.extract(
        session,
        principal=principal,
        status=status,
        procedure=procedure,
        ward_code=ward_code,
        since=since,
        until=until,
        after=_after(after),
        limit=limit,
    )
    return ApplicationPage(
        items=[ApplicationOut.model_validate(r) for r in rows],
        next_after=f"{last[0].isoformat()}|{last[1]}" if last else None,
    )


@router.get("/{application_id}", summary="Open an application (access-logged)")
async def open_application(
    application_id: UUID, session: Session, principal: Reader
) -> ApplicationDetailOut:
    return _detail(
        await service.open_application(session, principal=principal, application_id=application_id)
    )


@router.get(
    "/{application_id}/print",
    summary="The application as the paper form (妊娠届出書), PDF with the verification result",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "PDF"}},
)
async def print_application(application_id: UUID, session: Session, principal: Reader) -> Response:
    opened = await service.open_application(
        session, principal=principal, application_id=application_id, action="application.print"
    )
    return Response(
        print_pdf.render(opened, title=opened.procedure.title, fields=opened.procedure.fields),
        media_type="application/pdf",
    )


@router.post(
    "/{application_id}/accept",
    summary="Accept (受理): the person is resolved through atena; boshi_core pulls it",
    responses=problem_responses(503),
)
async def accept(
    application_id: UUID, session: Session, principal: Reviewer, intake: IntakeDep, atena: Atena
) -> ApplicationOut:
    application = await service.accept(
        session, principal=principal, intake=intake, atena=atena, application_id=application_id
    )
    return ApplicationOut.model_validate(application)


@router.post("/{application_id}/return", summary="Return for correction (返戻) with the reason")
async def return_for_correction(
    application_id: UUID, body: ReturnIn, session: Session, principal: Reviewer
) -> ApplicationOut:
    application = await service.return_for_correction(
        session, principal=principal, application_id=application_id, reason=body.reason
    )
    return ApplicationOut.model_validate(application)


@router.patch(
    "/{application_id}",
    summary="Refused: staff never edit an application (only the applicant corrects it)",
    status_code=204,
)
async def edit(application_id: UUID, body: EditIn, session: Session, principal: Reviewer) -> None:
    del body
    await service.refuse_edit(session, principal=principal, application_id=application_id)
