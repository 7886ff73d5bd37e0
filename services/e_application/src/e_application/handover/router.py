"""The hand-over export boshi_core pulls with its client token (never database access)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from e_application.deps import ExportPuller
from e_application.handover import service
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(prefix="/exports", tags=["hand-over"])


class AcceptedOut(BaseModel):
    receipt_no: str
    application_id: str
    procedure: str
    procedure_version: int
    person_no: str = Field(description="from atena's lookup; the My Number is never exported")
    ward_code: str
    accepted_at: datetime
    signed_at: datetime
    authority: str = Field(description="the certificate authority that verified the signer")
    certificate_serial: str
    form: dict[str, Any]


class AcceptedPage(BaseModel):
    items: list[AcceptedOut]


class HandedOverOut(BaseModel):
    receipt_no: str
    handed_over_at: datetime | None


@router.get("/accepted", summary="Accepted applications not yet taken by boshi_core")
async def accepted(
    session: Session,
    principal: ExportPuller,
    handover: Annotated[str, Query(pattern="^boshi_pregnancy$")] = "boshi_pregnancy",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AcceptedPage:
    found = await service.pending(session, principal=principal, handover=handover, limit=limit)
    return AcceptedPage(
        items=[
            AcceptedOut(
                receipt_no=a.application.receipt_no,
                application_id=str(a.application.id),
                procedure=a.application.procedure_code,
                procedure_version=a.application.procedure_version,
                person_no=a.application.person_no or "",
                ward_code=a.application.ward_code,
                accepted_at=a.application.decided_at or a.application.updated_at,
                signed_at=a.version.signed_at,
                authority=a.version.authority,
                certificate_serial=a.version.certificate_serial,
                form=a.version.form,
            )
            for a in found
        ]
    )


@router.post(
    "/accepted/{receipt_no}/handed-over",
    summary="boshi_core has opened the pregnancy: the application leaves the export",
)
async def handed_over(receipt_no: str, session: Session, principal: ExportPuller) -> HandedOverOut:
    application = await service.confirm(session, principal=principal, receipt_no=receipt_no)
    return HandedOverOut(receipt_no=receipt_no, handed_over_at=application.handed_over_at)
