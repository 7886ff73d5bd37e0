"""Inquiry (情報照会) and held provision (自動応答不可) routes."""

import uuid
from typing import Annotated

from fastapi import Query

from intermediate_server.deps import Approver, Inquirer, NetworkGateway, TenantSession
from intermediate_server.exchange import approval, service
from intermediate_server.exchange.schemas import (
    DecisionIn,
    HeldProvisionOut,
    HeldProvisionsOut,
    InquiryIn,
    InquiryOut,
)
from mch_common.openapi import problem_responses
from mch_common.routes import ServiceRouter

router = ServiceRouter(tags=["exchange"])


@router.post(
    "/inquiries",
    status_code=201,
    summary="Inquire of another municipality through the network (情報照会)",
    responses=problem_responses(403, 404),
)
async def inquire(
    body: InquiryIn,
    session: TenantSession,
    principal: Inquirer,
    network: NetworkGateway,
) -> InquiryOut:
    inquiry = await service.inquire(
        session,
        principal=principal,
        hub=network.hub,
        provider=network.provider,
        cipher=network.cipher,
        person_no=body.person_no,
        provider_code=body.provider,
        clause=body.clause,
        items=tuple(body.items),
        purpose=None,
    )
    return InquiryOut.model_validate(inquiry, from_attributes=True)


@router.get("/inquiries/{inquiry_id}", summary="An inquiry and its answer so far")
async def get_inquiry(
    inquiry_id: uuid.UUID, session: TenantSession, principal: Inquirer
) -> InquiryOut:
    inquiry = await service.get_inquiry(session, principal=principal, inquiry_id=inquiry_id)
    return InquiryOut.model_validate(inquiry, from_attributes=True)


@router.get("/provisions/held", summary="Items waiting for staff confirmation (自動応答不可)")
async def held_provisions(
    session: TenantSession,
    principal: Approver,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> HeldProvisionsOut:
    held = await approval.held_provisions(session, principal=principal, limit=limit)
    return HeldProvisionsOut(
        items=[HeldProvisionOut.model_validate(h, from_attributes=True) for h in held]
    )


@router.post(
    "/provisions/held/{held_id}/decision",
    summary="Approve or refuse a held provision; past its deadline it is refused",
)
async def decide(
    held_id: uuid.UUID, body: DecisionIn, session: TenantSession, principal: Approver
) -> HeldProvisionOut:
    held = await approval.decide(
        session,
        principal=principal,
        sessions=service.sessions_of(session),
        held_id=held_id,
        decision=body.decision,
    )
    return HeldProvisionOut.model_validate(held, from_attributes=True)
