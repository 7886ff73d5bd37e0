"""Inquiry and provision between two tenants of the platform, through the simulated hub: a
child moving from Fukuoka to Kitakyushu, items the replica does not hold, items held for
staff (自動応答不可) and their deadline, and the provision records on both sides."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from intermediate_server.deps import APPROVE, INQUIRE, RECORDS_READ, SYSTEM_ADMIN
from intermediate_server.tenancy import enter_tenant
from mch_common.audit import read_whole_log
from mch_common.events import read_outbox
from mch_common.mynumber import generate_my_number

from .conftest import CLAUSE_80, CLAUSE_95, FUKUOKA, KITAKYUSHU, Headers, Person, checkup


async def moved_child(
    client: httpx.AsyncClient, headers: Headers, person: Person
) -> tuple[str, str]:
    """A child known to both cities by the same My Number: (Kitakyushu's, Fukuoka's) number."""
    my_number = generate_my_number()
    fukuoka_no = await person(FUKUOKA, my_number=my_number)
    kitakyushu_no = await person(KITAKYUSHU, my_number=my_number)
    return kitakyushu_no, fukuoka_no


async def provision_records(session: AsyncSession, inquiry_id: str) -> list[dict[str, Any]]:
    await read_whole_log(session)  # both sides' records
    rows = await session.execute(
        text(
            "SELECT action, outcome, detail, persons FROM audit_log "
            "WHERE action LIKE 'provision.%' AND target_id = :id ORDER BY seq"
        ),
        {"id": inquiry_id},
    )
    return [
        {"action": a, "outcome": o, "tenant": d["tenant"], "detail": d, "persons": p}
        for a, o, d, p in rows
    ]


async def test_a_child_moving_in_gets_the_previous_citys_checkups_with_records_on_both_sides(
    client: httpx.AsyncClient, headers: Headers, person: Person, db_session: AsyncSession
) -> None:
    kitakyushu_no, fukuoka_no = await moved_child(client, headers, person)
    registered = await client.put(
        f"/replica/persons/{fukuoka_no}/checkups",
        json=checkup("fk-ck-1", taken_on=date(2026, 9, 1), height_cm=63.5, judgement="observe"),
        headers=headers(tenant=FUKUOKA, sub="boshi_core", service=True),
    )
    assert registered.status_code == 200, registered.text

    answer = await client.post(
        "/inquiries",
        json={
            "person_no": kitakyushu_no,
            "provider": FUKUOKA,
            "clause": CLAUSE_95,
            "items": ["95"],
        },
        headers=headers(INQUIRE),
    )

    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "answered"
    (record,) = body["answer"]["95"]["records"]
    assert body["answer"]["95"]["status"] == "provided"
    assert record["record_key"] == "fk-ck-1"
    assert record["data"] == {
        "checkup_kind": "infant_4m",
        "taken": True,
        "taken_on": "2026-09-01",
        "height_cm": 63.5,
        "judgement": "observe",
    }
    records = await provision_records(db_session, body["id"])
    assert [(r["action"], r["tenant"], r["outcome"]) for r in records] == [
        ("provision.provide", FUKUOKA, "success"),
        ("provision.inquiry", KITAKYUSHU, "success"),
    ]
    provider_side, requester_side = records
    assert provider_side["persons"] == [f"{FUKUOKA}:{fukuoka_no}"]
    assert requester_side["persons"] == [f"{KITAKYUSHU}:{kitakyushu_no}"]
    for r in records:
        assert r["detail"]["requester"] == KITAKYUSHU
        assert r["detail"]["provider"] == FUKUOKA
        assert r["detail"]["clause"] == CLAUSE_95
        assert r["detail"]["provided"] == ["95"]
    # The person-facing view: each city shows its own resident the records about them.
    view = await client.get(f"/records/persons/{kitakyushu_no}", headers=headers(RECORDS_READ))
    assert view.status_code == 200, view.text
    assert [(i["side"], i["provider"], i["items"]) for i in view.json()["items"]] == [
        ("requester", FUKUOKA, ["95"])
    ]
    fukuoka_view = await client.get(
        f"/records/persons/{fukuoka_no}", headers=headers(RECORDS_READ, tenant=FUKUOKA)
    )
    assert [i["side"] for i in fukuoka_view.json()["items"]] == ["provider"]
    # Kitakyushu's staff cannot read Fukuoka's records of that person by its number.
    peek = await client.get(f"/records/persons/{fukuoka_no}", headers=headers(RECORDS_READ))
    assert peek.json()["items"] == []


async def test_items_the_replica_does_not_hold_are_answered_as_not_held(
    client: httpx.AsyncClient, headers: Headers, person: Person
) -> None:
    kitakyushu_no, _ = await moved_child(client, headers, person)

    answer = await client.post(
        "/inquiries",
        json={
            "person_no": kitakyushu_no,
            "provider": FUKUOKA,
            "clause": CLAUSE_80,
            "items": ["80"],
        },
        headers=headers(INQUIRE),
    )

    assert answer.status_code == 201, answer.text
    assert answer.json()["answer"] == {"80": {"status": "not_held", "records": [], "reason": None}}


async def test_an_older_registration_does_not_replace_a_newer_one(
    client: httpx.AsyncClient, headers: Headers, person: Person
) -> None:
    fukuoka_no = await person(FUKUOKA)
    writer = headers(tenant=FUKUOKA, sub="boshi_core", service=True)
    newer = checkup("ck", taken_on=date(2026, 9, 2))
    older = {**checkup("ck", taken_on=date(2026, 9, 1)), "as_of": "2026-10-01T00:00:00+00:00"}
    first = await client.put(f"/replica/persons/{fukuoka_no}/checkups", json=newer, headers=writer)
    second = await client.put(f"/replica/persons/{fukuoka_no}/checkups", json=older, headers=writer)

    assert first.json()["current"] is True
    assert second.json()["current"] is False


async def test_a_result_outside_the_layout_is_never_registered(
    client: httpx.AsyncClient, headers: Headers, person: Person
) -> None:
    fukuoka_no = await person(FUKUOKA)
    entry = checkup("ck", taken_on=date(2026, 9, 1), kind="prenatal", syphilis_positive=False)

    answer = await client.put(
        f"/replica/persons/{fukuoka_no}/checkups",
        json=entry,
        headers=headers(tenant=FUKUOKA, sub="boshi_core", service=True),
    )

    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"


async def held_inquiry(
    client: httpx.AsyncClient, headers: Headers, person: Person
) -> tuple[dict[str, Any], str]:
    kitakyushu_no, fukuoka_no = await moved_child(client, headers, person)
    entry = {**checkup("ck-dv", taken_on=date(2026, 9, 1)), "no_auto_response": True}
    await client.put(
        f"/replica/persons/{fukuoka_no}/checkups",
        json=entry,
        headers=headers(tenant=FUKUOKA, sub="boshi_core", service=True),
    )
    answer = await client.post(
        "/inquiries",
        json={
            "person_no": kitakyushu_no,
            "provider": FUKUOKA,
            "clause": CLAUSE_95,
            "items": ["95"],
        },
        headers=headers(INQUIRE),
    )
    assert answer.status_code == 201, answer.text
    held = await client.get("/provisions/held", headers=headers(APPROVE, tenant=FUKUOKA))
    (item,) = held.json()["items"]
    return answer.json(), item["id"]


async def test_a_no_auto_response_item_waits_for_the_providers_staff(
    client: httpx.AsyncClient, headers: Headers, person: Person, db_session: AsyncSession
) -> None:
    inquiry, held_id = await held_inquiry(client, headers, person)
    assert inquiry["status"] == "partly_held"
    assert inquiry["answer"]["95"] == {"status": "held", "records": [], "reason": None}
    # Kitakyushu's staff see no held item of Fukuoka's, nor can they decide it.
    assert (await client.get("/provisions/held", headers=headers(APPROVE))).json()["items"] == []
    foreign = await client.post(
        f"/provisions/held/{held_id}/decision",
        json={"decision": "approve"},
        headers=headers(APPROVE),
    )
    assert foreign.status_code == 404

    decided = await client.post(
        f"/provisions/held/{held_id}/decision",
        json={"decision": "approve"},
        headers=headers(APPROVE, tenant=FUKUOKA, sub="fukuoka-staff"),
    )

    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved"
    after = (await client.get(f"/inquiries/{inquiry['id']}", headers=headers(INQUIRE))).json()
    assert after["status"] == "answered"
    assert after["answer"]["95"]["status"] == "provided"
    assert [r["record_key"] for r in after["answer"]["95"]["records"]] == ["ck-dv"]
    records = await provision_records(db_session, inquiry["id"])
    assert [(r["action"], r["tenant"], r["outcome"]) for r in records[:2]] == [
        ("provision.provide", FUKUOKA, "held"),
        ("provision.inquiry", KITAKYUSHU, "held"),
    ]
    # The decision: recorded by the provider, and by the requester when it arrives.
    assert sorted((r["action"], r["tenant"], r["outcome"]) for r in records[2:]) == [
        ("provision.inquiry", KITAKYUSHU, "success"),
        ("provision.provide", FUKUOKA, "success"),
    ]
    # The requesting municipality's systems are told, under its own tenant.
    (told,) = [e for e in await read_outbox(db_session) if e["type"] == "ims.inquiry.answered"]
    assert (told["tenant"], told["source"]) == (KITAKYUSHU, "urn:mch:401005:intermediate_server")
    assert told["data"] == {
        "inquiry_id": inquiry["id"],
        "person_no": inquiry["person_no"],
        "provider": FUKUOKA,
        "status": "answered",
    }
    again = await client.post(
        f"/provisions/held/{held_id}/decision",
        json={"decision": "refuse"},
        headers=headers(APPROVE, tenant=FUKUOKA),
    )
    assert again.status_code == 409


async def test_a_held_item_is_refused_when_its_deadline_passes(
    client: httpx.AsyncClient, headers: Headers, person: Person, db_session: AsyncSession
) -> None:
    inquiry, held_id = await held_inquiry(client, headers, person)
    await enter_tenant(db_session, FUKUOKA)
    await db_session.execute(
        text("UPDATE held_provision SET deadline = :past WHERE id = :id"),
        {"past": datetime.now(UTC) - timedelta(minutes=1), "id": held_id},
    )

    # Fukuoka's system administrator runs the job for Fukuoka, the provider holding the item.
    run = await client.post(
        "/admin/system/held/expire", headers=headers(SYSTEM_ADMIN, tenant=FUKUOKA)
    )

    assert run.status_code == 200, run.text
    assert run.json()["counts"]["expired"] == 1
    after = (await client.get(f"/inquiries/{inquiry['id']}", headers=headers(INQUIRE))).json()
    assert after["answer"]["95"]["status"] == "refused"
    assert after["answer"]["95"]["records"] == []
    held = await client.post(
        f"/provisions/held/{held_id}/decision",
        json={"decision": "approve"},
        headers=headers(APPROVE, tenant=FUKUOKA),
    )
    assert held.status_code == 409
    records = await provision_records(db_session, inquiry["id"])
    assert sorted(
        (r["action"], r["outcome"], r["detail"]["refused_reason"]) for r in records[2:]
    ) == [
        ("provision.inquiry", "refused", "the deadline for staff confirmation passed"),
        ("provision.provide", "refused", "the deadline for staff confirmation passed"),
    ]


async def test_approving_after_the_deadline_refuses(
    client: httpx.AsyncClient, headers: Headers, person: Person, db_session: AsyncSession
) -> None:
    inquiry, held_id = await held_inquiry(client, headers, person)
    await enter_tenant(db_session, FUKUOKA)
    await db_session.execute(
        text("UPDATE held_provision SET deadline = :past WHERE id = :id"),
        {"past": datetime.now(UTC) - timedelta(seconds=1), "id": held_id},
    )

    decided = await client.post(
        f"/provisions/held/{held_id}/decision",
        json={"decision": "approve"},
        headers=headers(APPROVE, tenant=FUKUOKA),
    )

    assert decided.json()["status"] == "expired"
    after = (await client.get(f"/inquiries/{inquiry['id']}", headers=headers(INQUIRE))).json()
    assert after["answer"]["95"]["status"] == "refused"
