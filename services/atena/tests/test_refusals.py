"""Refusals are recorded and tell no more than a miss; the access log is keyed by person."""

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atena.persons.models import Person, PersonChange
from atena.testing import KOKURA_KITA, YAHATA_NISHI, Headers, person_body
from mch_common.audit import AuditRecord, accesses_to_person
from mch_common.events.tables import OutboxEvent
from mch_common.mynumber import generate_my_number

MakePerson = Callable[..., Any]
READ = "atena:person:read"
LOOKUP = "atena:mynumber:lookup"
UNKNOWN = "1000000028"


async def records(db: AsyncSession, action: str) -> list[AuditRecord]:
    # This test's records: the log keeps other tests' committed ones.
    stmt = (
        select(AuditRecord)
        .where(AuditRecord.action == action, AuditRecord.occurred_at >= func.now())
        .order_by(AuditRecord.seq)
    )
    return list((await db.execute(stmt)).scalars())


async def written(db: AsyncSession) -> tuple[int, int, int]:
    async def count(model: Any) -> int:
        return int((await db.execute(select(func.count()).select_from(model))).scalar_one())

    return await count(Person), await count(PersonChange), await count(OutboxEvent)


async def nishi_resident(make_person: MakePerson, **overrides: Any) -> dict[str, Any]:
    address = person_body()["address"] | {"ward_code": YAHATA_NISHI, "town": "八幡西区黒崎"}
    result: dict[str, Any] = await make_person(address=address, **overrides)
    return result


async def test_a_lookup_of_another_wards_number_is_a_miss_and_both_are_recorded(
    client: httpx.AsyncClient, headers: Headers, make_person: MakePerson, db_session: AsyncSession
) -> None:
    number = generate_my_number()
    nishi = await nishi_resident(make_person, my_number=number)
    before = await written(db_session)
    kita_staff = headers(LOOKUP, ward=KOKURA_KITA)
    other_ward = await client.post(
        "/persons/lookup-by-my-number", json={"my_number": number}, headers=kita_staff
    )
    unknown = await client.post(
        "/persons/lookup-by-my-number",
        json={"my_number": generate_my_number()},
        headers=kita_staff,
    )
    assert other_ward.status_code == unknown.status_code == 404
    assert other_ward.json() == unknown.json()
    lookups = await records(db_session, "person.lookup_by_my_number")
    assert [(r.outcome, r.target_id) for r in lookups] == [
        ("refused", nishi["person_no"]),
        ("not_found", None),
    ]
    assert lookups[0].detail["reason"] == "the record belongs to another ward"
    assert await written(db_session) == before


async def test_refused_reads_and_changes_of_a_person_are_recorded_by_the_route(
    client: httpx.AsyncClient, headers: Headers, make_person: MakePerson, db_session: AsyncSession
) -> None:
    nishi = await nishi_resident(make_person)
    no = nishi["person_no"]
    before = await written(db_session)
    kita_staff = headers(READ, "atena:person:write", ward=KOKURA_KITA)
    other_ward = await client.get(f"/persons/{no}", headers=kita_staff)
    unknown = await client.get(f"/persons/{UNKNOWN}", headers=kita_staff)
    assert other_ward.status_code == unknown.status_code == 404
    assert other_ward.json()["detail"] == unknown.json()["detail"]
    change = await client.post(
        f"/persons/{no}/name-change",
        json={"effective_date": "2025-01-01", "given_name": "変更"},
        headers=kita_staff,
    )
    assert change.status_code == 404
    no_scope = await client.get(f"/persons/{no}", headers=headers(LOOKUP))
    assert no_scope.status_code == 403
    reads = await records(db_session, "GET /persons/{person_no}")
    assert [(r.outcome, r.target_id) for r in reads] == [
        ("refused", no),
        ("not_found", UNKNOWN),
        ("refused", no),
    ]
    assert reads[2].detail["reason"] == f"missing scope {READ}"
    [changed] = await records(db_session, "POST /persons/{person_no}/name-change")
    assert (changed.outcome, changed.target_id, changed.persons) == ("refused", no, [no])
    assert await written(db_session) == before


async def test_every_access_to_a_person_is_one_query(
    client: httpx.AsyncClient, headers: Headers, make_person: MakePerson, db_session: AsyncSession
) -> None:
    number = generate_my_number()
    nishi = await nishi_resident(make_person, my_number=number, family_name="探索")
    no = nishi["person_no"]
    listed = await client.get("/persons", params={"name": "探索"}, headers=headers(READ))
    assert no in [p["person_no"] for p in listed.json()["items"]]
    found = await client.post(
        "/persons/lookup-by-my-number", json={"my_number": number}, headers=headers(LOOKUP)
    )
    assert found.status_code == 200, found.text
    refused = await client.get(f"/persons/{no}", headers=headers(READ, ward=KOKURA_KITA))
    assert refused.status_code == 404
    about = await accesses_to_person(db_session, no)
    assert [(r.action, r.outcome) for r in about[:3]] == [
        ("GET /persons/{person_no}", "refused"),
        ("person.lookup_by_my_number", "success"),
        ("person.search", "success"),
    ]
    assert about[-1].action == "person.registered"
    older = await accesses_to_person(db_session, no, before=about[0].seq, limit=2)
    assert [r.seq for r in older] == [about[1].seq, about[2].seq]
    # The auditors' endpoint answers the same question.
    page = await client.get(
        "/admin/audit", params={"person": no}, headers=headers("atena:audit:read", sub="auditor")
    )
    assert page.status_code == 200, page.text
    assert [r["seq"] for r in page.json()["items"]] == [r.seq for r in about]
    assert page.json()["items"][0]["persons"] == [no]
