"""Replica (副本) registration routes."""

from intermediate_server.codes.schemas import PersonNo
from intermediate_server.deps import ReplicaWriter, TenantSession
from intermediate_server.replica import service
from intermediate_server.replica.layout import CHECKUP, PREGNANCY_NOTIFICATION
from intermediate_server.replica.schemas import (
    CheckupEntryIn,
    PregnancyNotificationEntryIn,
    ReplicaEntryOut,
)
from mch_common.routes import ServiceRouter

router = ServiceRouter(prefix="/replica/persons/{person_no}", tags=["replica"])


async def _register(
    session: TenantSession,
    principal: ReplicaWriter,
    person_no: str,
    item_no: str,
    body: PregnancyNotificationEntryIn | CheckupEntryIn,
) -> ReplicaEntryOut:
    current = await service.register(
        session,
        principal=principal,
        person_no=person_no,
        item_no=item_no,
        record_key=body.record_key,
        as_of=body.as_of,
        no_auto_response=body.no_auto_response,
        data=body.data.model_dump(mode="json", exclude_none=True),
    )
    return ReplicaEntryOut(
        person_no=person_no,
        item_no=item_no,
        record_key=body.record_key,
        as_of=body.as_of,
        no_auto_response=body.no_auto_response,
        current=current,
    )


@router.put(
    "/pregnancy-notifications",
    summary="Register pregnancy notification information, item 80 (妊娠の届出情報)",
)
async def register_pregnancy_notification(
    person_no: PersonNo,
    body: PregnancyNotificationEntryIn,
    session: TenantSession,
    principal: ReplicaWriter,
) -> ReplicaEntryOut:
    return await _register(session, principal, person_no, PREGNANCY_NOTIFICATION, body)


@router.put("/checkups", summary="Register checkup information, item 95 (健康診査情報)")
async def register_checkup(
    person_no: PersonNo, body: CheckupEntryIn, session: TenantSession, principal: ReplicaWriter
) -> ReplicaEntryOut:
    return await _register(session, principal, person_no, CHECKUP, body)
