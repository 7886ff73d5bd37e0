"""The events boshi_core emits on its stream "boshi": ids and minimal facts, never a My Number."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.config import EVENT_SOURCE
from mch_common.events import emit_event

PREGNANCY_OPENED = "boshi.pregnancy.opened"
HANDBOOK_ISSUED = "boshi.handbook.issued"
PRENATAL_CHECKUP_RECORDED = "boshi.prenatal_checkup.recorded"
PREGNANCY_CLOSED = "boshi.pregnancy.closed"
CHILD_REGISTERED = "boshi.child.registered"
LOW_BIRTH_WEIGHT_NOTIFIED = "boshi.low_birth_weight.notified"
VISIT_COMPLETED = "boshi.visit.completed"
INFANT_CHECKUP_RECORDED = "boshi.infant_checkup.recorded"


async def emit(
    session: AsyncSession, *, type: str, subject: str, tenant: str, data: dict[str, Any]
) -> None:
    await emit_event(
        session, source=EVENT_SOURCE, type=type, subject=subject, tenant=tenant, data=data
    )
