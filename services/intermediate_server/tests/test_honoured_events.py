"""boshi_core's decisions on a person's requests, honoured by the intermediate server
(issue 19): a suspension of provision (利用停止) answers the person's items as suspended, on
both sides' provision records, until it is lifted; a correction (訂正) of a field the replica
holds (items 80 and 95) corrects the entry. Redelivered and out-of-order events change
nothing."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core import events as boshi_events
from intermediate_server.deps import INQUIRE
from intermediate_server.replica.consumer import register_from_event
from mch_common.audit import read_whole_log
from mch_common.events import CloudEvent
from mch_common.events.catalogue import EventType
from mch_common.work import UnitOfWork

from .conftest import CLAUSE_95, FUKUOKA, KITAKYUSHU, Headers, Person, checkup
from .test_exchange import moved_child, provision_records
from .test_replica_by_event import boshi_event, replica_rows

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


def decided(
    event_type: EventType[Any], tenant: str, at: datetime, data: dict[str, Any]
) -> CloudEvent:
    return CloudEvent(
        source=f"urn:mch:{tenant}:boshi_core",
        type=event_type.type,
        subject=str(data["person_no"]),
        tenant=tenant,
        time=at,
        data=data,
    )


def suspension(
    person_no: str, *, suspended: bool, at: datetime, use: str = "provision"
) -> CloudEvent:
    return decided(
        boshi_events.USE_SUSPENSION_CHANGED,
        FUKUOKA,
        at,
        {
            "person_no": person_no,
            "use": use,
            "suspended": suspended,
            "request_id": f"req-{at:%H%M}",
            "effective_on": at.date().isoformat(),
        },
    )


async def honour(db_session: AsyncSession, *events: CloudEvent) -> None:
    async with UnitOfWork.on(db_session):
        for event in events:
            await register_from_event(db_session, event)


async def ask_for_95(client: httpx.AsyncClient, headers: Headers, person_no: str) -> dict[str, Any]:
    answer = await client.post(
        "/inquiries",
        json={"person_no": person_no, "provider": FUKUOKA, "clause": CLAUSE_95, "items": ["95"]},
        headers=headers(INQUIRE),
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_a_suspension_of_provision_is_answered_and_recorded_until_lifted(
    client: httpx.AsyncClient, headers: Headers, person: Person, db_session: AsyncSession
) -> None:
    kitakyushu_no, fukuoka_no = await moved_child(client, headers, person)
    registered = await client.put(
        f"/replica/persons/{fukuoka_no}/checkups",
        json=checkup("fk-ck-1", taken_on=date(2026, 9, 1)),
        headers=headers(tenant=FUKUOKA, sub="boshi_core", service=True),
    )
    assert registered.status_code == 200, registered.text

    stop = suspension(fukuoka_no, suspended=True, at=T0)
    # Reminders are boshi_core's own use; the suspension of provision is redelivered.
    await honour(db_session, suspension(fukuoka_no, suspended=False, at=T0, use="reminders"))
    await honour(db_session, stop, stop)
    suspended = await ask_for_95(client, headers, kitakyushu_no)

    assert suspended["answer"]["95"]["status"] == "suspended"
    assert suspended["answer"]["95"]["records"] == []
    assert suspended["status"] == "answered"
    records = await provision_records(db_session, suspended["id"])
    assert [(r["action"], r["tenant"], r["outcome"]) for r in records] == [
        ("provision.provide", FUKUOKA, "suspended"),
        ("provision.inquiry", KITAKYUSHU, "suspended"),
    ]
    assert all(r["detail"]["suspended"] == ["95"] for r in records)
    assert all(r["detail"]["provided"] == [] for r in records)
    view = await client.get(f"/records/persons/{fukuoka_no}", headers=headers(tenant=FUKUOKA))
    assert view.json()["items"][0]["suspended"] == ["95"]

    # A lift decided before the suspension (arriving late) changes nothing.
    await honour(db_session, suspension(fukuoka_no, suspended=False, at=T0 - timedelta(days=1)))
    still = await ask_for_95(client, headers, kitakyushu_no)
    assert still["answer"]["95"]["status"] == "suspended"

    # Lifted: provided again.
    await honour(db_session, suspension(fukuoka_no, suspended=False, at=T0 + timedelta(days=3)))
    restored = await ask_for_95(client, headers, kitakyushu_no)
    assert restored["answer"]["95"]["status"] == "provided"
    assert [r["record_key"] for r in restored["answer"]["95"]["records"]] == ["fk-ck-1"]
    await read_whole_log(db_session)
    held = await db_session.execute(
        text(
            "SELECT action, detail->>'changed' FROM audit_log "
            "WHERE action LIKE 'provision.s%' OR action = 'provision.resume' ORDER BY seq"
        )
    )
    assert [tuple(r) for r in held] == [
        ("provision.suspend", "true"),
        ("provision.suspend", "false"),  # the redelivery
        ("provision.resume", "false"),  # the late lift
        ("provision.resume", "true"),
    ]


async def test_a_correction_of_items_80_and_95_corrects_the_replica(
    db_session: AsyncSession,
) -> None:
    mother, child = "4013000027", "4013000035"
    await honour(
        db_session,
        boshi_event(
            "opened",
            FUKUOKA,
            {
                "pregnancy_id": "p-1",
                "person_no": mother,
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
                "person_no": mother,
                "checkup_date": "2026-10-01",
                "gestational_weeks": 12,
                "voucher_used": True,
                "risk_flags": [],
            },
        ),
        boshi_event(
            "infant",
            FUKUOKA,
            {
                "person_no": child,
                "programme": "4m",
                "examined_on": "2026-09-01",
                "judgement": "no_problem",
            },
        ),
    )
    at = datetime(2026, 11, 20, tzinfo=UTC)

    def corrected(person_no: str, record_type: str, record_id: str, **values: Any) -> CloudEvent:
        return decided(
            boshi_events.RECORD_CORRECTED,
            FUKUOKA,
            at,
            {
                "person_no": person_no,
                "record_type": record_type,
                "record_id": record_id,
                "fields": sorted({*values, "findings"}),
                "request_id": "req-1",
                "values": values,
                "copy_key": "4m" if record_type == "infant_checkup_result" else None,
            },
        )

    due = corrected(mother, "pregnancy", "p-1", expected_delivery_date="2027-03-08")
    await honour(
        db_session,
        due,
        due,  # redelivered
        corrected(mother, "prenatal_checkup", "c-1", gestational_weeks=13),
        corrected(child, "infant_checkup_result", "r-9", examined_on="2026-09-03"),
        # Not in the replica: a field it does not hold, a record it never held.
        corrected(mother, "pregnancy", "p-1"),
        corrected(mother, "prenatal_checkup", "c-404", gestational_weeks=20),
    )

    assert await replica_rows(db_session, FUKUOKA) == [
        (
            mother,
            "80",
            "p-1",
            {
                "notified_on": "2026-10-05",
                "expected_delivery_date": "2027-03-08",
                "expected_children": 1,
            },
        ),
        (
            child,
            "95",
            "4m",
            {
                "checkup_kind": "infant_4m",
                "taken": True,
                "taken_on": "2026-09-03",
                "judgement": "no_abnormality",
            },
        ),
        (
            mother,
            "95",
            "c-1",
            {
                "checkup_kind": "prenatal",
                "taken": True,
                "taken_on": "2026-10-01",
                "gestational_weeks": 13,
            },
        ),
    ]
    await read_whole_log(db_session)
    logged = await db_session.execute(
        text(
            "SELECT target_id, persons FROM audit_log WHERE action = 'replica.correct' ORDER BY seq"
        )
    )
    assert [tuple(r) for r in logged] == [
        ("80:p-1", [f"{FUKUOKA}:{mother}"]),
        ("80:p-1", [f"{FUKUOKA}:{mother}"]),
        ("95:c-1", [f"{FUKUOKA}:{mother}"]),
        ("95:4m", [f"{FUKUOKA}:{child}"]),
    ]
