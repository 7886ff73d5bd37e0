"""The intermediate server's disclosure endpoint (issue 19), which boshi_core's disclosure
across the platform calls with its service token: the person's 符号 only as "registered", the
replica's entries, the provision records (情報提供等記録) and the accesses to her in the
platform's one shape, all of the caller's municipality and nothing about anyone else."""

import json
from datetime import date

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from intermediate_server.deps import DISCLOSURE_EXPORT, INQUIRE, RECORDS_READ
from mch_common.audit import read_whole_log
from mch_common.mynumber import generate_my_number

from .conftest import CLAUSE_95, FUKUOKA, KITAKYUSHU, Headers, Person, checkup, register_person

PLATFORM_SHAPE = {
    "seq",
    "occurred_at",
    "actor",
    "department",
    "ward",
    "roles",
    "terminal",
    "action",
    "record_type",
    "purpose",
    "outcome",
    "reason",
}


async def test_the_export_holds_her_records_and_accesses_and_nothing_else(
    client: httpx.AsyncClient, headers: Headers, person: Person, db_session: AsyncSession
) -> None:
    my_number = generate_my_number()
    fukuoka_no = await register_person(client, headers, FUKUOKA, my_number=my_number)
    kitakyushu_no = await register_person(client, headers, KITAKYUSHU, my_number=my_number)
    neighbour = await person(KITAKYUSHU)
    await client.put(
        f"/replica/persons/{fukuoka_no}/checkups",
        json=checkup("fk-ck-1", taken_on=date(2026, 9, 1)),
        headers=headers(tenant=FUKUOKA, sub="boshi_core", service=True),
    )
    asked = await client.post(
        "/inquiries",
        json={
            "person_no": kitakyushu_no,
            "provider": FUKUOKA,
            "clause": CLAUSE_95,
            "items": ["95"],
        },
        headers=headers(INQUIRE),
    )
    assert asked.status_code == 201, asked.text
    # Staff read her records, and a neighbour's; someone without the scope is refused.
    for someone in (kitakyushu_no, neighbour):
        read = await client.get(f"/records/persons/{someone}", headers=headers(RECORDS_READ))
        assert read.status_code == 200
    refused = await client.get(f"/records/persons/{kitakyushu_no}", headers=headers(INQUIRE))
    assert refused.status_code == 403
    collector = headers(DISCLOSURE_EXPORT, sub="boshi_core", service=True)

    answer = await client.get(f"/persons/{kitakyushu_no}/disclosure", headers=collector)

    assert answer.status_code == 200, answer.text
    export = answer.json()
    assert export["person_no"] == kitakyushu_no
    assert export["municipality"] == KITAKYUSHU
    assert export["code"] == "registered"
    assert export["replica"] == []  # Kitakyushu's replica holds nothing of hers
    [record] = export["provision_records"]
    assert (record["side"], record["provider"], record["items"]) == ("requester", FUKUOKA, ["95"])
    assert record["provided"] == ["95"]
    assert export["provision_suspension"] is None
    actions = [(e["action"], e["outcome"]) for e in export["access_log"]]
    assert ("provision.inquiry", "success") in actions
    assert ("records.read", "success") in actions
    assert any(outcome == "refused" for _, outcome in actions), actions
    # The refusal names her as Kitakyushu's person (a person number is only a city's).
    await read_whole_log(db_session)
    named = await db_session.execute(
        text("SELECT persons FROM audit_log WHERE outcome = 'refused' AND target_id = :key"),
        {"key": f"{KITAKYUSHU}:{kitakyushu_no}"},
    )
    assert [tuple(r) for r in named] == [([f"{KITAKYUSHU}:{kitakyushu_no}"],)]
    assert all(set(e) == PLATFORM_SHAPE for e in export["access_log"])
    dumped = json.dumps(export, ensure_ascii=False)
    assert my_number not in dumped
    assert neighbour not in dumped
    assert fukuoka_no not in dumped  # Fukuoka's number for her is Fukuoka's
    assert my_number not in answer.url.path

    # Fukuoka's export of the same person: its replica entry and the provider's record.
    theirs = await client.get(
        f"/persons/{fukuoka_no}/disclosure",
        headers=headers(DISCLOSURE_EXPORT, tenant=FUKUOKA, sub="boshi_core", service=True),
    )
    assert theirs.status_code == 200, theirs.text
    assert [e["record_key"] for e in theirs.json()["replica"]] == ["fk-ck-1"]
    assert [r["side"] for r in theirs.json()["provision_records"]] == ["provider"]
    assert kitakyushu_no not in theirs.text

    # The export is itself recorded, and disclosed by the next one.
    again = await client.get(f"/persons/{kitakyushu_no}/disclosure", headers=collector)
    assert again.json()["access_log"][-1]["action"] == "disclosure.export"
    assert again.json()["access_log"][-1]["actor"] == "svc:boshi_core"


async def test_nobody_held_is_a_404_and_the_scope_is_required(
    client: httpx.AsyncClient, headers: Headers
) -> None:
    collector = headers(DISCLOSURE_EXPORT, sub="boshi_core", service=True)
    missing = await client.get("/persons/4010009990/disclosure", headers=collector)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    unscoped = await client.get("/persons/4010009990/disclosure", headers=headers(RECORDS_READ))
    assert unscoped.status_code == 403
