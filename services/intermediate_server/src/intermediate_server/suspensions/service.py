"""Honouring boshi_core's suspension of provision (`boshi.use_suspension.changed`, use
`provision`): while it stands, the provider answers the person's items as suspended."""

from datetime import date, datetime

from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from intermediate_server.codes.service import person_key
from intermediate_server.suspensions.models import ProvisionSuspension
from mch_common.ids import uuid7
from mch_common.work import UnitOfWork

PROVISION_USE = "provision"
SUSPENDED_REASON = "provision suspended at the person's request (利用停止)"

# Events may come out of order or again: only a later decision replaces the one held.
_UPSERT = text(
    "INSERT INTO provision_suspension (id, tenant, person_no, suspended, request_id, "
    "effective_on, as_of) VALUES (:id, :tenant, :person_no, :suspended, :request_id, "
    ":effective_on, :as_of) ON CONFLICT (tenant, person_no) DO UPDATE SET "
    "suspended = excluded.suspended, request_id = excluded.request_id, "
    "effective_on = excluded.effective_on, as_of = excluded.as_of "
    "WHERE provision_suspension.as_of < excluded.as_of RETURNING id"
)
_SUSPENDED = select(ProvisionSuspension.suspended).where(
    ProvisionSuspension.person_no == bindparam("person_no")
)


async def record_decision(
    session: AsyncSession,
    *,
    system: str,
    tenant: str,
    person_no: str,
    suspended: bool,
    request_id: str,
    effective_on: date,
    as_of: datetime,
) -> bool:
    """Hold the decision (the session already walled to `tenant`); True when it changed
    what is held. Recorded in the access log, naming the person."""
    changed = (
        await session.execute(
            _UPSERT,
            {
                "id": uuid7(),
                "tenant": tenant,
                "person_no": person_no,
                "suspended": suspended,
                "request_id": request_id,
                "effective_on": effective_on,
                "as_of": as_of,
            },
        )
    ).first() is not None
    UnitOfWork.of(session).record(
        actor=system,
        action="provision.suspend" if suspended else "provision.resume",
        target_type="provision_suspension",
        target_id=request_id,
        detail={"tenant": tenant, "changed": changed},
        persons=[person_key(tenant, person_no)],
    )
    return changed


async def is_suspended(session: AsyncSession, person_no: str) -> bool:
    """Whether provision about the person (of the session's tenant) is suspended now."""
    return bool((await session.execute(_SUSPENDED, {"person_no": person_no})).scalar())


async def held_about(session: AsyncSession, person_no: str) -> ProvisionSuspension | None:
    stmt = select(ProvisionSuspension).where(ProvisionSuspension.person_no == person_no)
    return (await session.execute(stmt)).scalar_one_or_none()
