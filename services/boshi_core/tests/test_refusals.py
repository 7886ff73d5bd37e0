"""Refusals are recorded and tell no more than a miss; the access log is keyed by person."""

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.checkups.service import extract
from boshi_core.checkups.windows import Period
from boshi_core.pregnancy.models import Pregnancy
from boshi_core.testsupport import (
    CHECKUP_SCOPES,
    KOKURA_NORTH,
    MY_NUMBER,
    YAHATA_WEST,
    Auth,
    FakeAtena,
    Register,
    Resident,
)
from mch_common.audit import AuditRecord, accesses_to_person
from mch_common.events.tables import OutboxEvent
from mch_common.work import UnitOfWork

MOTHER = "1000000010"
UNKNOWN = "1000000028"
OTHER_NUMBER = "000000000019"  # a valid My Number atena does not know


async def refusals(db: AsyncSession, action: str) -> list[AuditRecord]:
    # This test's records: the log keeps other tests' committed ones.
    stmt = (
        select(AuditRecord)
        .where(AuditRecord.action == action, AuditRecord.occurred_at >= func.now())
        .order_by(AuditRecord.seq)
    )
    return list((await db.execute(stmt)).scalars())


async def written(db: AsyncSession) -> tuple[int, int]:
    async def count(model: Any) -> int:
        return int((await db.execute(select(func.count()).select_from(model))).scalar_one())

    return await count(Pregnancy), await count(OutboxEvent)


def same_answer(a: httpx.Response, b: httpx.Response) -> None:
    assert a.status_code == b.status_code == 404
    assert a.json() == b.json()


async def test_my_number_search_answers_a_refusal_as_a_miss_and_records_both(
    client: httpx.AsyncClient,
    auth: Auth,
    register: Register,
    fake_atena: FakeAtena,
    db_session: AsyncSession,
) -> None:
    await register(MOTHER, ward=KOKURA_NORTH)
    fake_atena.known[MY_NUMBER] = MOTHER
    before = await written(db_session)
    yahata = auth(ward=YAHATA_WEST)
    other_ward = await client.post(
        "/people/search-by-my-number", json={"my_number": MY_NUMBER}, headers=yahata
    )
    unknown = await client.post(
        "/people/search-by-my-number", json={"my_number": OTHER_NUMBER}, headers=yahata
    )
    same_answer(other_ward, unknown)
    records = await refusals(db_session, "person.lookup_by_my_number")
    assert [(r.outcome, r.target_id) for r in records] == [
        ("refused", MOTHER),
        ("not_found", None),
    ]
    assert records[0].detail["reason"] == "the record belongs to another ward"
    assert records[0].terminal is not None
    assert await written(db_session) == before


async def test_a_refused_person_read_is_a_miss_recorded_by_the_route(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    await register(MOTHER, ward=KOKURA_NORTH)
    before = await written(db_session)
    other_ward = await client.get(f"/people/{MOTHER}", headers=auth(ward=YAHATA_WEST))
    unknown = await client.get(f"/people/{UNKNOWN}", headers=auth(ward=YAHATA_WEST))
    assert other_ward.json()["detail"] == unknown.json()["detail"]
    assert other_ward.status_code == unknown.status_code == 404
    no_scope = await client.get(f"/people/{MOTHER}", headers=auth(("boshi:visit:read",)))
    assert no_scope.status_code == 403
    no_token = await client.get(f"/people/{MOTHER}")
    assert no_token.status_code == 401
    records = await refusals(db_session, "GET /people/{person_no}")
    assert [(r.outcome, r.target_id, r.actor) for r in records] == [
        ("refused", MOTHER, "staff-0001"),
        ("not_found", UNKNOWN, "staff-0001"),
        ("refused", MOTHER, "staff-0001"),
        ("unauthenticated", MOTHER, "anonymous"),
    ]
    assert records[2].detail["reason"] == "missing scope boshi:pregnancy:read"
    assert all(r.persons == [r.target_id] for r in records)
    assert await written(db_session) == before


@pytest.mark.usefixtures("programmes")
async def test_every_access_to_a_person_is_one_query(
    client: httpx.AsyncClient,
    auth: Auth,
    register: Register,
    resident: Resident,
    fake_atena: FakeAtena,
    db_session: AsyncSession,
) -> None:
    child = "2000000002"
    await register(MOTHER)
    await resident(child, "2026-08-30")
    async with UnitOfWork.on(db_session):
        await extract(db_session, programme="4m", period=Period.parse("2026-11"))
    listed = await client.get(
        "/checkups/targets",
        params={"programme": "4m", "month": "2026-11"},
        headers=auth(CHECKUP_SCOPES),
    )
    assert child in {item["person_no"] for item in listed.json()["items"]}
    fake_atena.known[MY_NUMBER] = child
    found = await client.post(
        "/people/search-by-my-number", json={"my_number": MY_NUMBER}, headers=auth()
    )
    assert found.status_code == 200, found.text
    refused = await client.get(
        f"/checkups/children/{child}", headers=auth(CHECKUP_SCOPES, ward=YAHATA_WEST)
    )
    assert refused.status_code == 404
    about = await accesses_to_person(db_session, child)
    assert [(r.action, r.outcome) for r in about[:3]] == [
        ("GET /checkups/children/{person_no}", "refused"),
        ("person.lookup_by_my_number", "success"),
        ("checkup.targets.view", "success"),
    ]
    assert [r.seq for r in about] == sorted((r.seq for r in about), reverse=True)
    older = await accesses_to_person(db_session, child, before=about[0].seq, limit=1)
    assert [r.seq for r in older] == [about[1].seq]
    assert MOTHER not in about[2].persons
