"""boshi_core's events register items 80 and 95 in the replica of the event's tenant, mapped
onto the layout, and a redelivery changes nothing."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core import events as boshi_events
from intermediate_server.replica.consumer import register_from_event
from intermediate_server.tenancy import enter_tenant
from mch_common.events import CloudEvent
from mch_common.events.catalogue import EventType
from mch_common.work import UnitOfWork

from .conftest import FUKUOKA, KITAKYUSHU

AT = datetime(2026, 10, 5, 1, 2, 3, tzinfo=UTC)


def boshi_event(kind: str, tenant: str, data: dict[str, object]) -> CloudEvent:
    types: dict[str, EventType[Any]] = {
        "opened": boshi_events.PREGNANCY_OPENED,
        "prenatal": boshi_events.PRENATAL_CHECKUP_RECORDED,
        "infant": boshi_events.INFANT_CHECKUP_RECORDED,
    }
    event_type = types[kind]
    return CloudEvent(
        source=f"urn:mch:{tenant}:boshi_core",
        type=event_type.type,
        subject="x",
        tenant=tenant,
        time=AT,
        data=data,
    )


async def replica_rows(session: AsyncSession, tenant: str) -> list[tuple[object, ...]]:
    await enter_tenant(session, tenant)
    rows = await session.execute(
        text(
            "SELECT person_no, item_no, record_key, data FROM replica_entry "
            "ORDER BY item_no, record_key"
        )
    )
    return [tuple(r) for r in rows]


async def test_boshi_events_register_items_80_and_95_in_their_tenant(
    db_session: AsyncSession,
) -> None:
    events = [
        boshi_event(
            "opened",
            FUKUOKA,
            {
                "pregnancy_id": "p-1",
                "person_no": "4013000027",
                "ward_code": "401315",
                "channel": "window",
                "expected_children": 1,
                "expected_delivery_date": "2027-03-01",
            },
        ),
        boshi_event(
            "prenatal",
            FUKUOKA,
            {
                "pregnancy_id": "p-1",
                "checkup_id": "c-1",
                "person_no": "4013000027",
                "checkup_date": "2026-10-01",
                "gestational_weeks": 12,
                "voucher_used": True,
                "risk_flags": ["hypertension", "older_mother"],
            },
        ),
        boshi_event(
            "infant",
            FUKUOKA,
            {
                "person_no": "4013000035",
                "programme": "4m",
                "examined_on": "2026-09-01",
                "judgement": "follow_up",
            },
        ),
    ]
    async with UnitOfWork.on(db_session):
        for event in (*events, events[2]):  # the last one redelivered
            await register_from_event(db_session, event)

    assert await replica_rows(db_session, FUKUOKA) == [
        (
            "4013000027",
            "80",
            "p-1",
            {
                "notified_on": "2026-10-05",
                "expected_delivery_date": "2027-03-01",
                "expected_children": 1,
            },
        ),
        (
            "4013000035",
            "95",
            "4m",
            {
                "checkup_kind": "infant_4m",
                "taken": True,
                "taken_on": "2026-09-01",
                "judgement": "observe",
            },
        ),
        (
            "4013000027",
            "95",
            "c-1",
            {
                "checkup_kind": "prenatal",
                "taken": True,
                "taken_on": "2026-10-01",
                "gestational_weeks": 12,
                "pregnancy_induced_hypertension": True,
            },
        ),
    ]
    assert await replica_rows(db_session, KITAKYUSHU) == []
