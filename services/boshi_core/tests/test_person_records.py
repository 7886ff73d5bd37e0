"""A staff screen's lists: a person's visits (as mother or as the child), a child's visits, a
pregnancy's prenatal checkups; paged, ward-scoped and access-logged."""

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.testsupport import KOKURA_NORTH, YAHATA_WEST, Auth, Register, notification
from mch_common.audit import AuditRecord
from mch_common.dates import today_tokyo

MOTHER, CHILD = "1000000010", "1000000036"


async def mother_and_child(client: httpx.AsyncClient, auth: Auth, register: Register) -> str:
    """A mother whose child was born three days ago (two visits open); the child's id."""
    await register(MOTHER)
    await register(
        CHILD, birth_date=(today_tokyo() - timedelta(days=3)).isoformat(), mother_person_no=MOTHER
    )
    opened = await client.post("/pregnancies", json=notification(MOTHER), headers=auth())
    assert opened.status_code == 201, opened.text
    born = today_tokyo() - timedelta(days=3)
    outcome = await client.post(
        f"/pregnancies/{opened.json()['id']}/outcome",
        json={
            "outcome": "birth",
            "outcome_date": born.isoformat(),
            "births": [
                {
                    "birth_date": born.isoformat(),
                    "sex": "female",
                    "birth_weight_g": 3050,
                    "gestational_weeks": 39,
                    "gestational_days": 0,
                    "birth_attendant": "doctor",
                    "birth_place": "北九州市立医療センター",
                    "child_person_no": CHILD,
                }
            ],
        },
        headers=auth(),
    )
    assert outcome.status_code == 201, outcome.text
    return str(outcome.json()["children"][0]["id"])


async def pages(client: httpx.AsyncClient, auth: Auth, path: str) -> list[list[dict[str, Any]]]:
    """Every page of a list, one item a page."""
    out, cursor = [], None
    while True:
        query = f"?limit=1&cursor={cursor}" if cursor else "?limit=1"
        response = await client.get(path + query, headers=auth())
        assert response.status_code == 200, response.text
        out.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return out


async def test_a_persons_visits_as_mother_and_as_child_are_paged_and_logged(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    child_id = await mother_and_child(client, auth, register)
    as_mother = await pages(client, auth, f"/people/{MOTHER}/visits")
    assert [[v["kind"] for v in page] for page in as_mother] == [["newborn"], ["infant_household"]]
    assert all(page[0]["child_id"] == child_id for page in as_mother)
    as_child = await pages(client, auth, f"/people/{CHILD}/visits")
    assert [page[0]["id"] for page in as_child] == [page[0]["id"] for page in as_mother]
    of_child = await pages(client, auth, f"/children/{child_id}/visits")
    assert [page[0]["id"] for page in of_child] == [page[0]["id"] for page in as_mother]

    records = (
        (
            await db_session.execute(
                select(AuditRecord)
                .where(AuditRecord.action == "visit.list_of_person")
                .order_by(AuditRecord.seq)
            )
        )
        .scalars()
        .all()
    )
    assert len(records) == 4  # a record per page
    assert records[0].target_id == MOTHER
    assert set(records[0].persons) == {MOTHER, CHILD}
    assert records[2].target_id == CHILD
    child_pages = (
        (
            await db_session.execute(
                select(AuditRecord).where(AuditRecord.action == "visit.list_of_child")
            )
        )
        .scalars()
        .all()
    )
    assert len(child_pages) == 2
    assert child_pages[0].detail["child_id"] == child_id


async def test_another_wards_person_is_not_found_and_a_bad_cursor_is_refused(
    client: httpx.AsyncClient, auth: Auth, register: Register
) -> None:
    child_id = await mother_and_child(client, auth, register)
    other_ward = auth(ward=YAHATA_WEST)
    hidden = await client.get(f"/people/{MOTHER}/visits", headers=other_ward)
    unknown = await client.get("/people/1000000044/visits", headers=other_ward)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["detail"] == unknown.json()["detail"]
    assert hidden.headers["content-type"] == "application/problem+json"
    assert (await client.get(f"/children/{child_id}/visits", headers=other_ward)).status_code == 403
    own_ward = await client.get(f"/people/{MOTHER}/visits", headers=auth(ward=KOKURA_NORTH))
    assert len(own_ward.json()["items"]) == 2
    bad = await client.get(f"/people/{MOTHER}/visits?cursor=yesterday", headers=auth())
    assert bad.status_code == 422
    assert "cursor" in bad.json()["detail"]
    no_scope = await client.get(f"/people/{MOTHER}/visits", headers=auth(("boshi:pregnancy:read",)))
    assert no_scope.status_code == 403


async def test_a_pregnancys_checkups_are_paged_with_their_vouchers(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    await register(MOTHER)
    opened = await client.post("/pregnancies", json=notification(MOTHER), headers=auth())
    pregnancy_id = opened.json()["id"]
    issued = await client.post(
        f"/pregnancies/{pregnancy_id}/handbooks", json={"ward_code": KOKURA_NORTH}, headers=auth()
    )
    voucher_no = issued.json()["vouchers"][0]["voucher_no"]
    for days_ago, voucher in ((2, voucher_no), (1, None)):
        recorded = await client.post(
            f"/pregnancies/{pregnancy_id}/checkups",
            json={
                "checkup_date": (today_tokyo() - timedelta(days=days_ago)).isoformat(),
                "gestational_weeks": 10,
                "systolic_bp": 150,
                "voucher_no": voucher,
            },
            headers=auth(),
        )
        assert recorded.status_code == 201, recorded.text
    listed = await pages(client, auth, f"/pregnancies/{pregnancy_id}/checkups")
    assert [page[0]["voucher_no"] for page in listed] == [voucher_no, None]
    assert all(page[0]["risk_flags"] == ["hypertension"] for page in listed)
    logged = (
        (
            await db_session.execute(
                select(AuditRecord).where(AuditRecord.action == "prenatal_checkup.list")
            )
        )
        .scalars()
        .all()
    )
    assert [r.target_id for r in logged] == [MOTHER, MOTHER]
