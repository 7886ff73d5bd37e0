"""The request register (開示・訂正・利用停止請求): deadlines, the one extension, decisions,
the overdue list, corrections that keep the previous value, and every step in the access log."""

from datetime import date
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.pregnancy.models import Pregnancy
from boshi_core.requests.corrections import CORRECTABLE
from boshi_core.requests.models import PersonalDataRequest
from boshi_core.testsupport import ALL_SCOPES, YAHATA_WEST, Auth, Register, notification
from mch_common.audit import AuditRecord
from mch_common.events import read_outbox
from mch_common.mynumber import generate_my_number

MOTHER = "1000000010"
OTHER = "1000000028"
REQUEST_SCOPES = (*ALL_SCOPES, "boshi:requests:read", "boshi:requests:write")


def request_body(person_no: str, received_on: str, **extra: Any) -> dict[str, Any]:
    return {
        "person_no": person_no,
        "kind": "disclosure",
        "requester": {"kind": "self", "id_document": "my_number_card"},
        "asked": "母子保健に関して市が保有する私の情報すべて",
        "received_on": received_on,
        **extra,
    }


async def test_deadline_extension_decision_and_overdue_list(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    headers = auth(REQUEST_SCOPES, sub="staff-register")
    await register(MOTHER)
    await register(OTHER)
    # Received Friday 2 October 2026: day 30 is Sunday 1 November, so Monday 2 November.
    first = await client.post("/requests", json=request_body(MOTHER, "2026-10-02"), headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["deadline"] == "2026-11-02"
    assert first.json()["status"] == "received"
    # Received 1 December: day 30 is 31 December, in the year-end closure: 4 January.
    second = await client.post("/requests", json=request_body(OTHER, "2026-12-01"), headers=headers)
    assert second.json()["deadline"] == "2027-01-04"
    third = await client.post("/requests", json=request_body(OTHER, "2026-10-05"), headers=headers)
    assert third.json()["deadline"] == "2026-11-04"  # 3 November is a national holiday
    first_id, third_id = first.json()["id"], third.json()["id"]

    # The overdue list on 5 November: the two October requests, oldest due first, paged.
    page = await client.get(
        "/requests/overdue", params={"as_of": "2026-11-05", "limit": 1}, headers=headers
    )
    assert page.status_code == 200, page.text
    assert [r["id"] for r in page.json()["items"]] == [first_id]
    rest = await client.get(
        "/requests/overdue",
        params={"as_of": "2026-11-05", "limit": 1, "cursor": page.json()["next_cursor"]},
        headers=headers,
    )
    assert [r["id"] for r in rest.json()["items"]] == [third_id]
    assert rest.json()["next_cursor"] is None
    # Staff of another ward see none of them.
    elsewhere = await client.get(
        "/requests/overdue",
        params={"as_of": "2026-11-05"},
        headers=auth(REQUEST_SCOPES, ward=YAHATA_WEST, sub="staff-register"),
    )
    assert elsewhere.json()["items"] == []

    # One extension, by at most 30 days after the deadline, notified before it.
    too_long = {"extended_to": "2026-12-03", "reason": "大量の記録", "notified_on": "2026-10-20"}
    refused = await client.post(f"/requests/{first_id}/extension", json=too_long, headers=headers)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    extension = {**too_long, "extended_to": "2026-12-02"}
    extended = await client.post(f"/requests/{first_id}/extension", json=extension, headers=headers)
    assert extended.status_code == 200, extended.text
    assert extended.json()["extended_to"] == "2026-12-02"
    assert extended.json()["extension_reason"] == "大量の記録"
    again = await client.post(f"/requests/{first_id}/extension", json=extension, headers=headers)
    assert again.status_code == 409
    listed = await client.get("/requests/overdue", params={"as_of": "2026-11-05"}, headers=headers)
    assert [r["id"] for r in listed.json()["items"]] == [third_id]

    # A partial decision names its withheld parts, which must be parts of the request.
    no_parts = {"outcome": "partial", "decided_on": "2026-11-20", "reason": "第三者情報"}
    assert (
        await client.post(f"/requests/{first_id}/decision", json=no_parts, headers=headers)
    ).status_code == 422
    unknown = {**no_parts, "withheld": ["payroll"]}
    answer = await client.post(f"/requests/{first_id}/decision", json=unknown, headers=headers)
    assert answer.status_code == 422
    assert "payroll" in answer.text
    decided = await client.post(
        f"/requests/{first_id}/decision",
        json={**no_parts, "withheld": ["access_log"]},
        headers=headers,
    )
    assert decided.status_code == 200, decided.text
    assert (decided.json()["status"], decided.json()["outcome"]) == ("decided", "partial")
    assert decided.json()["withheld"] == ["access_log"]
    assert (
        await client.post(
            f"/requests/{first_id}/decision",
            json={**no_parts, "withheld": ["access_log"]},
            headers=headers,
        )
    ).status_code == 409

    # Every step is in the access log, keyed by the person.
    steps = (
        await db_session.execute(
            select(AuditRecord.action)
            .where(AuditRecord.target_id == first_id)
            .order_by(AuditRecord.seq)
        )
    ).scalars()
    assert list(steps) == ["request.receive", "request.extend", "request.decide"]
    # Each page of the overdue list names exactly the people it showed.
    overdue_lists = (
        await db_session.execute(
            select(AuditRecord.persons)
            .where(
                AuditRecord.action == "request.list_overdue",
                AuditRecord.actor == "staff-register",
            )
            .order_by(AuditRecord.seq)
        )
    ).scalars()
    assert list(overdue_lists) == [[MOTHER], [OTHER], [], [OTHER]]


async def test_bad_requests_change_nothing(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    headers = auth(REQUEST_SCOPES, sub="staff-bad-input")
    await register(MOTHER)
    unnamed = request_body(
        MOTHER,
        "2026-10-02",
        requester={"kind": "legal_representative", "id_document": "driving_licence"},
    )
    assert (await client.post("/requests", json=unnamed, headers=headers)).status_code == 422
    no_uses = request_body(MOTHER, "2026-10-02", kind="suspension")
    assert (await client.post("/requests", json=no_uses, headers=headers)).status_code == 422
    number = generate_my_number()
    leaked = request_body(MOTHER, "2026-10-02", asked=f"番号 {number} の記録")
    refused = await client.post("/requests", json=leaked, headers=headers)
    assert refused.status_code == 422
    assert number not in refused.text  # refused without echo
    future = request_body(MOTHER, "2099-01-01")
    assert (await client.post("/requests", json=future, headers=headers)).status_code == 422
    nobody = request_body("1999999999", "2026-10-02")
    assert (await client.post("/requests", json=nobody, headers=headers)).status_code == 404
    reader_only = auth((*ALL_SCOPES, "boshi:requests:read"), sub="staff-bad-input")
    forbidden = await client.post(
        "/requests", json=request_body(MOTHER, "2026-10-02"), headers=reader_only
    )
    assert forbidden.status_code == 403
    logged = await db_session.execute(
        select(AuditRecord).where(
            AuditRecord.actor == "staff-bad-input", AuditRecord.action.like("request.%")
        )
    )
    assert logged.first() is None
    stored = select(func.count()).select_from(PersonalDataRequest)
    assert await db_session.scalar(stored.where(PersonalDataRequest.person_no == MOTHER)) == 0


async def test_correction_keeps_the_previous_value_and_passes_the_change_on(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    headers = auth(REQUEST_SCOPES)
    await register(MOTHER)
    await register(OTHER)
    created = await client.post("/pregnancies", json=notification(), headers=headers)
    assert created.status_code == 201, created.text
    pregnancy_id = created.json()["id"]
    before = await db_session.get(Pregnancy, pregnancy_id)
    assert before is not None
    old_occupation, old_phone = before.occupation, before.contact_phone
    old_due = before.expected_delivery_date.isoformat()

    corrections = [
        {
            "record_type": "pregnancy",
            "record_id": pregnancy_id,
            "field": "occupation",
            "value": "看護師",
        },
        {
            "record_type": "pregnancy",
            "record_id": pregnancy_id,
            "field": "contact_phone",
            "value": "093-000-0000",
        },
        {
            # A field the intermediate server's replica holds (item 80): its value travels.
            "record_type": "pregnancy",
            "record_id": pregnancy_id,
            "field": "expected_delivery_date",
            "value": "2027-04-20",
        },
    ]
    # Another person's record cannot be named; a field outside the registry neither.
    theirs = request_body(OTHER, "2026-11-02", kind="correction", corrections=corrections[:1])
    assert (await client.post("/requests", json=theirs, headers=headers)).status_code == 422
    odd = [{**corrections[0], "field": "status"}]
    bad = request_body(MOTHER, "2026-11-02", kind="correction", corrections=odd)
    assert (await client.post("/requests", json=bad, headers=headers)).status_code == 422

    body = request_body(MOTHER, "2026-11-02", kind="correction", corrections=corrections)
    received = await client.post("/requests", json=body, headers=headers)
    assert received.status_code == 201, received.text
    request_id = received.json()["id"]
    early = await client.post(f"/requests/{request_id}/fulfilment", headers=headers)
    assert early.status_code == 409  # not decided yet
    # Partial: the phone number (item 2) is not corrected.
    decided = await client.post(
        f"/requests/{request_id}/decision",
        json={
            "outcome": "partial",
            "decided_on": "2026-11-10",
            "withheld": ["2"],
            "reason": "届出時の番号に誤りはない",
        },
        headers=headers,
    )
    assert decided.status_code == 200, decided.text
    done = await client.post(f"/requests/{request_id}/fulfilment", headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["summary"] == {"corrected": 2}

    await db_session.refresh(before)
    assert before.occupation == "看護師"
    assert before.contact_phone == old_phone
    assert before.expected_delivery_date.isoformat() == "2027-04-20"
    made = await client.get(f"/requests/{request_id}/corrections", headers=headers)
    assert made.status_code == 200, made.text
    assert sorted((c["field"], c["previous_value"], c["new_value"]) for c in made.json()) == [
        ("expected_delivery_date", old_due, "2027-04-20"),
        ("occupation", old_occupation, "看護師"),
    ]
    outbox = [e for e in await read_outbox(db_session) if e["type"] == "boshi.record.corrected"]
    assert [e["data"] for e in outbox] == [
        {
            "person_no": MOTHER,
            "record_type": "pregnancy",
            "record_id": pregnancy_id,
            "fields": ["expected_delivery_date", "occupation"],
            "request_id": request_id,
            # The occupation's value stays here; the due date is in the replica's item 80.
            "values": {"expected_delivery_date": "2027-04-20"},
            "copy_key": None,
        }
    ]
    assert (
        await client.post(f"/requests/{request_id}/fulfilment", headers=headers)
    ).status_code == 409


async def test_inquiry_log_is_searchable_and_paged(
    client: httpx.AsyncClient, auth: Auth, register: Register
) -> None:
    headers = auth(REQUEST_SCOPES, sub="staff-inq")
    await register(MOTHER)
    ids = []
    for n, (channel, question, person) in enumerate(
        [
            ("phone", "母子手帳の情報は誰が見られるのか", MOTHER),
            ("window", "開示請求の手続きを知りたい", None),
            ("email", "予防接種記録の訂正方法", MOTHER),
        ]
    ):
        made = await client.post(
            "/inquiries",
            json={
                "channel": channel,
                "question": question,
                "person_no": person,
                "received_at": f"2026-11-0{n + 1}T10:00:00+09:00",
            },
            headers=headers,
        )
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    answered = await client.post(
        f"/inquiries/{ids[0]}/answer",
        json={"answer": "担当課の権限を持つ職員のみ。閲覧はすべて記録されます。"},
        headers=headers,
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["answered_by"] == "staff-inq"
    assert answered.json()["answered_at"] is not None
    again = await client.post(
        f"/inquiries/{ids[0]}/answer", json={"answer": "二度目"}, headers=headers
    )
    assert again.status_code == 409

    async def search(**params: Any) -> dict[str, Any]:
        found = await client.get("/inquiries", params=params, headers=headers)
        assert found.status_code == 200, found.text
        body: dict[str, Any] = found.json()
        return body

    assert [i["id"] for i in (await search(person_no=MOTHER))["items"]] == [ids[2], ids[0]]
    assert [i["id"] for i in (await search(q="閲覧はすべて"))["items"]] == [ids[0]]
    assert [i["id"] for i in (await search(unanswered="true", channel="window"))["items"]] == [
        ids[1]
    ]
    first = await search(limit=2, since="2026-11-01T00:00:00+09:00")
    assert [i["id"] for i in first["items"]] == [ids[2], ids[1]]
    rest = await search(limit=2, since="2026-11-01T00:00:00+09:00", cursor=first["next_cursor"])
    assert [i["id"] for i in rest["items"]] == [ids[0]]


def test_every_correctable_field_is_a_column_the_mechanism_can_set() -> None:
    """The one registry covers each record type; a field it names that the model lacks, or
    of a type the coercion does not handle, would fail only when someone asked for it."""
    assert set(CORRECTABLE) == {
        "pregnancy",
        "prenatal_checkup",
        "child",
        "low_birth_weight_notification",
        "home_visit",
        "infant_checkup_result",
    }
    for record_type, kind in CORRECTABLE.items():
        columns = inspect(kind.model).columns
        for field in kind.fields:
            assert field in columns, (record_type, field)
            assert columns[field].type.python_type in {date, int, Decimal, str}, field
