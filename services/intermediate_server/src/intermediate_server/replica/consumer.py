"""boshi_core registers its providable data by event (stream "boshi"): pregnancy notification
information (item 80) as a pregnancy is opened, checkup information (item 95) as a prenatal or
infant checkup is recorded. Each event becomes a replica entry of its tenant, mapped onto the
layout (replica.layout); what the layout does not carry (the mother's age flags, the voucher)
is left out. A redelivered event re-registers the same entry with the same as-of time."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boshi_core import events as boshi_events
from intermediate_server.replica import service
from intermediate_server.replica.layout import (
    CHECKUP,
    PREGNANCY_NOTIFICATION,
    CheckupInfo,
    PregnancyNotificationInfo,
)
from intermediate_server.tenancy import enter_tenant
from mch_common.events import CloudEvent, EventBus, EventConsumer
from mch_common.streams import SERVICE_STREAMS

DURABLE = "intermediate_server-boshi"
INFANT_KINDS = {"4m": "infant_4m", "7m": "infant_7m", "1y6m": "infant_1y6m", "3y": "infant_3y"}
JUDGEMENTS = {
    "no_problem": "no_abnormality",
    "follow_up": "observe",
    "detailed_exam": "detailed_exam",
}

Entry = tuple[str, str, dict[str, Any]]  # item, record key, layout data


def _pregnancy_opened(data: dict[str, Any], at: datetime) -> Entry:
    info = PregnancyNotificationInfo(
        notified_on=at.date(),
        expected_delivery_date=data["expected_delivery_date"],
        expected_children=data["expected_children"],
    )
    return (
        PREGNANCY_NOTIFICATION,
        data["pregnancy_id"],
        info.model_dump(mode="json", exclude_none=True),
    )


def _prenatal_checkup(data: dict[str, Any], at: datetime) -> Entry:
    info = CheckupInfo(
        checkup_kind="prenatal",
        taken=True,
        taken_on=data["checkup_date"],
        gestational_weeks=data["gestational_weeks"],
        pregnancy_induced_hypertension="hypertension" in data.get("risk_flags", []) or None,
    )
    return CHECKUP, data["checkup_id"], info.model_dump(mode="json", exclude_none=True)


def _infant_checkup(data: dict[str, Any], at: datetime) -> Entry | None:
    kind = INFANT_KINDS.get(data["programme"])
    if kind is None:
        return None  # a programme the layout has no kind for
    info = CheckupInfo(
        checkup_kind=kind,
        taken=True,
        taken_on=data["examined_on"],
        judgement=JUDGEMENTS.get(data["judgement"]),
    )
    return CHECKUP, data["programme"], info.model_dump(mode="json", exclude_none=True)


MAPPINGS: dict[str, Callable[[dict[str, Any], datetime], Entry | None]] = {
    boshi_events.PREGNANCY_OPENED.type: _pregnancy_opened,
    boshi_events.PRENATAL_CHECKUP_RECORDED.type: _prenatal_checkup,
    boshi_events.INFANT_CHECKUP_RECORDED.type: _infant_checkup,
}


async def register_from_event(session: AsyncSession, event: CloudEvent) -> None:
    mapping = MAPPINGS.get(event.type)
    if mapping is None:
        return
    entry = mapping(event.data, event.time)
    if entry is None:
        return
    item_no, record_key, data = entry
    await enter_tenant(session, event.tenant)
    await service.register_by_system(
        session,
        system=event.source,
        tenant=event.tenant,
        person_no=str(event.data["person_no"]),
        item_no=item_no,
        record_key=record_key,
        as_of=event.time,
        data=data,
    )


def boshi_consumer(bus: EventBus, sessions: async_sessionmaker[AsyncSession]) -> EventConsumer:
    return EventConsumer.for_catalogue(
        bus,
        sessions,
        name=DURABLE,
        stream_service=SERVICE_STREAMS["boshi_core"],
        types=tuple(t for t in boshi_events.CATALOGUE if t.type in MAPPINGS),
        handler=register_from_event,
    )
