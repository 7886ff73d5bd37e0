"""A child's status over REST (ward-checked, access-logged), the overdue check with its event,
the monthly overdue list per ward, and the disclosure export."""

from datetime import date
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from immunization_bridge.children.consumer import apply_person_event
from immunization_bridge.records.service import import_file
from immunization_bridge.status.service import run_overdue_check
from mch_common.audit import AuditRecord
from mch_common.events import read_outbox

from .conftest import KOKURAKITA, YAHATANISHI, Headers, MakeChild, csv_file, person_event

TODAY = date(2026, 12, 2)


async def accesses(session: AsyncSession, person_no: str) -> list[str]:
    rows = await session.execute(
        select(AuditRecord.action)
        .where(AuditRecord.target_id == person_no)
        .order_by(AuditRecord.seq)
    )
    return list(rows.scalars())


async def test_a_childs_status_is_ward_checked_and_access_logged(
    client: httpx.AsyncClient, headers: Headers, session: AsyncSession, make_child: MakeChild
) -> None:
    child = await make_child(date(2026, 1, 31))
    await import_file(
        session,
        data=csv_file(f"R1,A,{child},bcg,1,2026-07-01,,"),
        filename="a.csv",
        actor="t",
        today=TODAY,
    )

    response = await client.get(
        f"/children/{child}/status", params={"on": "2026-12-02"}, headers=headers()
    )
    other_ward = await client.get(f"/children/{child}/status", headers=headers(ward=YAHATANISHI))
    unknown = await client.get("/children/1000000008/status", headers=headers())

    assert response.status_code == 200, response.text
    body = response.json()
    doses = {(d["vaccine"], d["dose_no"]): d for d in body["doses"]}
    assert doses[("bcg", 1)]["status"] == "complete"
    assert doses[("bcg", 1)]["given_on"] == "2026-07-01"
    # 2 months old from 1 April (March has 31 days: born 31 Jan, 2 months from 31 March);
    # 7 months old from 31 August: the 5-in-1's first dose is overdue.
    assert doses[("dpt_ipv_hib", 1)]["window_start"] == "2026-03-31"
    assert doses[("dpt_ipv_hib", 1)]["status"] == "overdue"
    assert doses[("mr", 1)]["status"] == "not_yet_due"
    assert [r["record_id"] for r in body["records"]] == ["R1"]
    # Another ward's child is answered as unknown, and the refused attempt is in the log.
    assert other_ward.status_code == unknown.status_code == 404
    assert other_ward.json()["detail"] == unknown.json()["detail"].replace("1000000008", child)
    assert await accesses(session, child) == ["status.read", "GET /children/{person_no}/status"]


async def test_the_overdue_check_announces_newly_overdue_doses_once(
    client: httpx.AsyncClient, headers: Headers, session: AsyncSession, make_child: MakeChild
) -> None:
    late = await make_child(date(2026, 1, 31))  # 5-in-1, PCV, hep B overdue by now
    elsewhere = await make_child(date(2026, 1, 31), ward_code=YAHATANISHI)
    await make_child(date(2026, 11, 1))  # a month old: nothing overdue

    first = await run_overdue_check(session, on=TODAY, tenant="401005")
    again = await run_overdue_check(session, on=TODAY, tenant="401005")

    assert first.children == 3
    assert first.newly_overdue == first.overdue > 0
    assert (again.newly_overdue, again.resolved, again.overdue) == (0, 0, first.overdue)
    announced = [e for e in await read_outbox(session) if e["type"] == "immunization.dose.overdue"]
    assert len(announced) == first.overdue
    assert {e["subject"] for e in announced} == {late, elsewhere}
    one = next(e for e in announced if e["data"]["vaccine"] == "dpt_ipv_hib")
    assert one["source"] == "urn:mch:401005:immunization_bridge"
    assert one["data"]["overdue_from"] == "2026-08-31"

    page = await client.get(f"/wards/{KOKURAKITA}/overdue", params={"limit": 2}, headers=headers())
    assert page.status_code == 200, page.text
    assert [i["person_no"] for i in page.json()["items"]] == [late, late]
    rest = await client.get(
        f"/wards/{KOKURAKITA}/overdue",
        params={"limit": 100, "after": page.json()["next_after"]},
        headers=headers(),
    )
    listed = page.json()["items"] + rest.json()["items"]
    assert len(listed) == sum(1 for e in announced if e["subject"] == late)
    assert rest.json()["next_after"] is None
    august = await client.get(
        f"/wards/{KOKURAKITA}/overdue", params={"month": "2026-08"}, headers=headers()
    )
    assert {i["vaccine"] for i in august.json()["items"]} == {"dpt_ipv_hib", "pcv"}
    refused = await client.get(f"/wards/{KOKURAKITA}/overdue", headers=headers(ward=YAHATANISHI))
    assert refused.status_code == 403
    assert "status.overdue_list" in await accesses(session, late)


async def test_a_dose_given_or_a_child_moved_out_leaves_the_overdue_list(
    session: AsyncSession, make_child: MakeChild
) -> None:
    given = await make_child(date(2026, 1, 31))
    leaving = await make_child(date(2026, 1, 31))
    first = await run_overdue_check(session, on=TODAY, tenant="401005")
    await import_file(
        session,
        data=csv_file(f"R1,A,{given},dpt_ipv_hib,1,2026-11-30,,"),
        filename="b.csv",
        actor="t",
        today=TODAY,
    )
    await apply_person_event(
        session,
        person_event(
            leaving,
            birth_date=date(2026, 1, 31),
            verb="moved_out",
            version=2,
            residence_status="moved_out",
            effective_date=TODAY,
        ),
    )

    later = await run_overdue_check(session, on=TODAY, tenant="401005")

    per_child = first.overdue // 2
    assert later.resolved == per_child + 1  # all of the child who left, one of the other
    assert later.overdue == per_child - 1


async def test_the_disclosure_export_holds_records_status_changes_and_accesses_json_and_pdf(
    client: httpx.AsyncClient, headers: Headers, session: AsyncSession, make_child: MakeChild
) -> None:
    child = await make_child(date(2026, 1, 31))
    await import_file(
        session,
        data=csv_file(f"R1,A,{child},bcg,1,2026-07-01,,", "R1,D,,,,,,"),
        filename="c.csv",
        actor="t",
        today=TODAY,
    )
    await client.get(f"/children/{child}/status", headers=headers())

    response = await client.get(f"/children/{child}/disclosure", headers=headers())
    refused = await client.get(
        f"/children/{child}/disclosure", headers=headers("immunization:status:read")
    )

    assert response.status_code == 200, response.text
    export = response.json()
    assert [(r["record_id"], r["deleted"]) for r in export["records"]] == [("R1", True)]
    assert [a["action"] for a in export["access_log"]] == ["status.read"]
    assert export["child"]["ward_code"] == KOKURAKITA
    assert refused.status_code == 403
    refused_action = "GET /children/{person_no}/disclosure"
    assert await accesses(session, child) == ["status.read", "disclosure.export", refused_action]
    # The birth the register was (or will be) told of is data held about the child too.
    assert [(c["change"], c["file_run_id"]) for c in export["register_changes"]] == [("born", None)]
    assert export["exported_by"] == "staff-0001"

    pdf = await client.get(f"/children/{child}/disclosure.pdf", headers=headers())
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert b"FontFile2" in pdf.content  # the Japanese font is embedded


async def test_a_child_who_moved_ward_is_listed_in_the_new_ward_after_the_next_check(
    client: httpx.AsyncClient, headers: Headers, session: AsyncSession, make_child: MakeChild
) -> None:
    child = await make_child(date(2026, 1, 31))
    await run_overdue_check(session, on=TODAY, tenant="401005")
    moved = person_event(
        child,
        birth_date=date(2026, 1, 31),
        verb="address_changed",
        version=2,
        ward_code=YAHATANISHI,
        effective_date=TODAY,
    )
    await apply_person_event(session, moved)

    again = await run_overdue_check(session, on=TODAY, tenant="401005")

    assert again.newly_overdue == 0  # not announced twice
    for ward, count in ((KOKURAKITA, 0), (YAHATANISHI, again.overdue)):
        page = await client.get(f"/wards/{ward}/overdue", headers=headers())
        assert len(page.json()["items"]) == count


async def test_a_backdated_correction_file_changes_what_the_status_shows(
    client: httpx.AsyncClient, headers: Headers, session: AsyncSession, make_child: MakeChild
) -> None:
    child = await make_child(date(2025, 1, 15))
    first = csv_file(f"R1,A,{child},pcv,1,2025-05-19,,")
    backdated = csv_file(f"R1,C,{child},pcv,1,令和7年3月20日,,")  # the register's correction

    async def pcv(dose_no: int) -> dict[str, Any]:
        response = await client.get(
            f"/children/{child}/status", params={"on": "2025-05-20"}, headers=headers()
        )
        assert response.status_code == 200, response.text
        doses: list[dict[str, Any]] = response.json()["doses"]
        (dose,) = [d for d in doses if (d["vaccine"], d["dose_no"]) == ("pcv", dose_no)]
        return dose

    await import_file(session, data=first, filename="1.csv", actor="t", today=TODAY)
    before = await pcv(2)
    await import_file(session, data=backdated, filename="2.csv", actor="t", today=TODAY)
    after = await pcv(2)

    # 27 days after a dose given yesterday: not yet; after one given in March: due today.
    assert (before["status"], before["window_start"]) == ("not_yet_due", "2025-06-15")
    assert (after["status"], after["window_start"]) == ("due", "2025-04-16")
    assert (await pcv(1))["given_on"] == "2025-03-20"
