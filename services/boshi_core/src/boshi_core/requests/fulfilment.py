"""Fulfilling a decided request (開示の実施, 訂正, 利用停止): a disclosure's export collected
from every service and kept with the request, the corrections made, the uses stopped or
restored. A refusal has nothing to fulfil."""

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.immunization.client import ImmunizationClient
from boshi_core.people.service import person_in_scope
from boshi_core.platform_disclosure import pdf
from boshi_core.platform_disclosure import service as platform
from boshi_core.platform_disclosure.sources import DisclosureSources
from boshi_core.requests import corrections, repository
from boshi_core.requests.models import PersonalDataRequest, RecordCorrection
from boshi_core.requests.service import NO_SUCH_REQUEST, PURPOSE
from boshi_core.suspensions import service as suspensions
from mch_common.auth.principal import Principal
from mch_common.dates import today_tokyo
from mch_common.errors import Conflict, NotFound
from mch_common.work import UnitOfWork


@dataclass(frozen=True)
class Fulfilment:
    request: PersonalDataRequest
    summary: dict[str, Any]


async def fulfil(
    session: AsyncSession,
    *,
    principal: Principal,
    request_id: UUID,
    sources: DisclosureSources,
    immunization: ImmunizationClient,
) -> Fulfilment:
    request = await repository.for_update(session, request_id)
    if request is None:
        raise NotFound(NO_SUCH_REQUEST)
    await person_in_scope(session, principal, request.person_no)
    if request.status == "received":
        raise Conflict("the request is not decided yet")
    if request.status == "fulfilled":
        raise Conflict("the request is already fulfilled")
    if request.outcome == "refusal":
        raise Conflict("a refusal has nothing to fulfil")
    on = today_tokyo()
    summary: dict[str, Any]
    if request.kind == "disclosure":
        export = await platform.collect(
            session,
            principal=principal,
            request=request,
            sources=sources,
            immunization=immunization,
        )
        request.export = export
        summary = {
            "services": sorted(export["services"]),
            "withheld": export["decision"]["withheld"],
            "accesses": len(export["access_log"])
            if isinstance(export["access_log"], list)
            else None,
        }
    elif request.kind == "correction":
        made = await corrections.apply(session, principal=principal, request=request)
        summary = {"corrected": len(made)}
    else:
        uses = [use for use in request.items["uses"] if use not in request.withheld]
        summary = {
            "uses": await suspensions.apply(
                session, principal=principal, request=request, uses=uses, on=on
            )
        }
    request.status = "fulfilled"
    request.fulfilled_on = on
    UnitOfWork.of(session).record_access(
        principal,
        action="request.fulfil",
        target_type="personal_data_request",
        target_id=str(request.id),
        purpose=PURPOSE,
        detail={"kind": request.kind},
        persons=[request.person_no],
    )
    return Fulfilment(request, summary)


async def _fulfilled_disclosure(
    session: AsyncSession, principal: Principal, request_id: UUID, action: str
) -> dict[str, Any]:
    request = await repository.for_update(session, request_id)
    if request is None:
        raise NotFound(NO_SUCH_REQUEST)
    await person_in_scope(session, principal, request.person_no)
    export = request.export
    if request.kind != "disclosure" or export is None:
        raise NotFound("this request has no disclosure export (not a fulfilled disclosure)")
    UnitOfWork.of(session).record_access(
        principal,
        action=action,
        target_type="personal_data_request",
        target_id=str(request.id),
        purpose=PURPOSE,
        persons=[request.person_no],
    )
    return export


async def export_of(
    session: AsyncSession, *, principal: Principal, request_id: UUID
) -> dict[str, Any]:
    """The export as delivered (kept with the request)."""
    return await _fulfilled_disclosure(session, principal, request_id, "request.export.view")


async def export_pdf(
    session: AsyncSession, *, principal: Principal, request_id: UUID, font_path: Path | None
) -> bytes:
    """The export as the PDF the person receives, rendered off the event loop."""
    export = await _fulfilled_disclosure(session, principal, request_id, "request.export.pdf")
    return await asyncio.to_thread(pdf.render, export, font_path=font_path)


async def corrections_of(
    session: AsyncSession, *, principal: Principal, request_id: UUID
) -> list[RecordCorrection]:
    """The corrections a request made, each with the previous value."""
    request = await repository.for_update(session, request_id)
    if request is None:
        raise NotFound(NO_SUCH_REQUEST)
    await person_in_scope(session, principal, request.person_no)
    made = await repository.corrections_of(session, request_id)
    UnitOfWork.of(session).record_access(
        principal,
        action="request.corrections.view",
        target_type="personal_data_request",
        target_id=str(request.id),
        purpose=PURPOSE,
        persons=[request.person_no],
    )
    return made
