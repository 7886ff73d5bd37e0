"""The child and family center: only center staff, ward scoping, plans and overdue reviews."""

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.testsupport import (
    CENTER_SCOPES,
    CHECKUP_SCOPES,
    KOKURA_NORTH,
    YAHATA_WEST,
    Auth,
    Resident,
)
from mch_common.audit import AuditRecord

# The seeded checkup programmes (restored if a committed test emptied them).
pytestmark = pytest.mark.usefixtures("programmes")


async def _family(resident: Resident) -> None:
    await resident("2300000001", "1992-03-03", household_no="H230", given_name="花子")
    await resident(
        "2300000002",
        "2026-02-02",
        household_no="H230",
        given_name="一郎",
        mother_person_no="2300000001",
    )


async def _open(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post(
        "/center/cases",
        json={
            "members": [
                {"person_no": "2300000001", "relationship": "mother"},
                {"person_no": "2300000002", "relationship": "child"},
            ],
            "opened_on": "2026-10-01",
            "reason": "産後うつの疑い、育児不安の相談",
        },
        headers=headers,
    )


async def test_case_consultation_plan_review_and_overdue(
    client: httpx.AsyncClient, auth: Auth, resident: Resident, db_session: AsyncSession
) -> None:
    await _family(resident)
    center = auth(CENTER_SCOPES, sub="center-1")
    opened = await _open(client, center)
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["id"]
    assert opened.json()["household_key"] == "H230"
    assert (await _open(client, center)).status_code == 409  # one open case per family

    consult = await client.post(
        f"/center/cases/{case_id}/consultations",
        json={"consulted_on": "2026-10-02", "channel": "phone", "summary": "夜泣きの相談"},
        headers=center,
    )
    assert consult.status_code == 201, consult.text
    plan = await client.post(
        f"/center/cases/{case_id}/plans",
        json={
            "starts_on": "2026-10-05",
            "review_on": "2026-11-05",
            "goals": "育児負担の軽減",
            "supports": [{"service": "産後ケア事業", "frequency": "週1回"}],
        },
        headers=center,
    )
    assert plan.status_code == 201, plan.text
    plan_id = plan.json()["id"]
    overdue = await client.get(
        "/center/overdue-reviews", params={"on": "2026-11-06"}, headers=center
    )
    assert [i["plan_id"] for i in overdue.json()["items"]] == [plan_id]
    assert overdue.json()["items"][0]["days_overdue"] == 1
    not_yet = await client.get(
        "/center/overdue-reviews", params={"on": "2026-11-05"}, headers=center
    )
    assert not_yet.json()["count"] == 0

    reviewed = await client.post(
        f"/center/plans/{plan_id}/reviews",
        json={"reviewed_on": "2026-11-06", "outcome": "continue", "next_review_on": "2027-01-06"},
        headers=center,
    )
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["review_on"] == "2027-01-06"
    after = await client.get("/center/overdue-reviews", params={"on": "2026-11-07"}, headers=center)
    assert after.json()["count"] == 0

    second = await client.post(
        f"/center/cases/{case_id}/plans",
        json={"starts_on": "2026-11-10", "review_on": "2027-02-10", "goals": "見直し後の計画"},
        headers=center,
    )
    assert second.json()["version"] == 2
    case = (await client.get(f"/center/cases/{case_id}", headers=center)).json()
    assert [p["status"] for p in case["plans"]] == ["superseded", "active"]
    assert len(case["consultations"]) == 1
    logged = (
        (
            await db_session.execute(
                select(AuditRecord.action).where(AuditRecord.target_id == case_id)
            )
        )
        .scalars()
        .all()
    )
    assert "center.case.view" in logged
    assert "center.case.open" in logged


async def test_only_center_staff_and_their_ward(
    client: httpx.AsyncClient, auth: Auth, resident: Resident
) -> None:
    await _family(resident)
    # Checkup staff hold no center scope.
    assert (await _open(client, auth(CHECKUP_SCOPES))).status_code == 403
    opened = await _open(client, auth(CENTER_SCOPES, ward=KOKURA_NORTH))
    assert opened.status_code == 201
    case_id = opened.json()["id"]
    other_ward = auth(CENTER_SCOPES, ward=YAHATA_WEST)
    assert (await client.get(f"/center/cases/{case_id}", headers=other_ward)).status_code == 403
    listing = await client.get("/center/overdue-reviews", headers=auth(CHECKUP_SCOPES))
    assert listing.status_code == 403
    read_only = auth(("boshi:center:read",))
    assert (await client.get(f"/center/cases/{case_id}", headers=read_only)).status_code == 200
    write = await client.post(
        f"/center/cases/{case_id}/consultations",
        json={"consulted_on": "2026-10-02", "channel": "phone", "summary": "x"},
        headers=read_only,
    )
    assert write.status_code == 403


async def test_plan_review_dates_are_validated(
    client: httpx.AsyncClient, auth: Auth, resident: Resident
) -> None:
    await _family(resident)
    center = auth(CENTER_SCOPES)
    case_id = (await _open(client, center)).json()["id"]
    bad = await client.post(
        f"/center/cases/{case_id}/plans",
        json={"starts_on": "2026-10-05", "review_on": "2026-10-05", "goals": "x"},
        headers=center,
    )
    assert bad.status_code == 422
