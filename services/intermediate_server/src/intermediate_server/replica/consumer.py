"""boshi_core registers its providable data by event (stream "boshi"): pregnancy notification
information (item 80) as a pregnancy is opened, checkup information (item 95) as a prenatal or
infant checkup is recorded. Each event becomes a replica entry of its tenant, mapped onto the
layout (replica.layout); what the layout does not carry (the mother's age flags, the voucher)
is left out. A redelivered event re-registers the same entry with the same as-of time.

boshi_core's decisions on a person's requests are honoured here too: a suspension of the use
`provision` (利用停止) is held (suspensions) and the person's items are answered as suspended
until it is lifted; a correction (訂正) of a field the replica holds corrects the entry."""

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boshi_core import events as boshi_events
from intermediate_server.replica import repository, service
from intermediate_server.replica.layout import (
    CHECKUP,
    PREGNANCY_NOTIFICATION,
    CheckupInfo,
    PregnancyNotificationInfo,
)
from intermediate_server.suspensions.service import PROVISION_USE, record_decision
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


# A corrected field of a boshi_core record: the item and the layout's key it fills.
CORRECTED_FIELDS: dict[str, tuple[str, dict[str, str]]] = {
    "pregnancy": (PREGNANCY_NOTIFICATION, {"expected_delivery_date": "expected_delivery_date"}),
    "prenatal_checkup": (
        CHECKUP,
        {"checkup_date": "taken_on", "gestational_weeks": "gestational_weeks"},
    ),
    "infant_checkup_result": (CHECKUP, {"examined_on": "taken_on"}),
}


async def _suspension_changed(session: AsyncSession, event: CloudEvent) -> None:
    data = event.data
    if data["use"] != PROVISION_USE:
        return  # reminders and invitations are boshi_core's own uses
    await enter_tenant(session, event.tenant)
    await record_decision(
        session,
        system=event.source,
        tenant=event.tenant,
        person_no=str(data["person_no"]),
        suspended=bool(data["suspended"]),
        request_id=str(data["request_id"]),
        effective_on=date.fromisoformat(str(data["effective_on"])),
        as_of=event.time,
    )


async def _record_corrected(session: AsyncSession, event: CloudEvent) -> None:
    """The entry the replica holds of the corrected record, with the corrected values; a
    record the replica never held (or a field it does not hold) changes nothing."""
    data = event.data
    mapped = CORRECTED_FIELDS.get(data["record_type"])
    values: dict[str, Any] = data.get("values") or {}
    if mapped is None or not values:
        return
    item_no, keys = mapped
    changes = {keys[field]: value for field, value in values.items() if field in keys}
    record_key = data.get("copy_key") or data["record_id"]
    person_no = str(data["person_no"])
    await enter_tenant(session, event.tenant)
    entry = await repository.entry(session, person_no, item_no, record_key)
    if entry is None or not changes:
        return
    await service.register_by_system(
        session,
        system=event.source,
        tenant=event.tenant,
        person_no=person_no,
        item_no=item_no,
        record_key=record_key,
        as_of=event.time,
        data={**entry.data, **changes},
        action="replica.correct",
    )


HONOURED: dict[str, Callable[[AsyncSession, CloudEvent], Awaitable[None]]] = {
    boshi_events.USE_SUSPENSION_CHANGED.type: _suspension_changed,
    boshi_events.RECORD_CORRECTED.type: _record_corrected,
}


async def register_from_event(session: AsyncSession, event: CloudEvent) -> None:
    if (honour := HONOURED.get(event.type)) is not None:
        await honour(session, event)
        return
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
        types=tuple(t for t in boshi_events.CATALOGUE if t.type in MAPPINGS or t.type in HONOURED),
        handler=register_from_event,
    )
