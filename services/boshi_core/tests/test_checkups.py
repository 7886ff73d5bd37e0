"""Boundary days end to end: the list, the child's profile and the letter agree on who is due.

Dates are fixed in the past (results cannot be in the future), and every check names its
boundary: born on the 31st, on 29 February, on a month's last day; a move in mid-window; a
checkup on the window's last day; twins at one address.
"""

import asyncio
import csv
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boshi_core.checkups.models import CheckupNotice, DetailedExamVoucher
from boshi_core.checkups.service import extract
from boshi_core.checkups.windows import Period
from boshi_core.reminders.service import run_reminders
from boshi_core.testsupport import (
    CENTER_SCOPES,
    CHECKUP_SCOPES,
    KOKURA_NORTH,
    YAHATA_WEST,
    Auth,
    Resident,
)
from mch_common.audit import AuditRecord
from mch_common.work import UnitOfWork

# The seeded checkup programmes (restored if a committed test emptied them).
pytestmark = pytest.mark.usefixtures("programmes")

SEPTEMBER = Period.parse("2026-09")


async def tool_output(*command: str) -> str:
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    assert process.returncode == 0
    return out.decode()


async def non_attendees(
    client: httpx.AsyncClient, headers: dict[str, str], programme: str, month: str
) -> dict[str, Any]:

    response = await client.get(
        "/checkups/non-attendees", params={"programme": programme, "month": month}, headers=headers
    )
    assert response.status_code == 200, response.text
    return {item["person_no"]: item for item in response.json()["items"]}


async def targets(
    client: httpx.AsyncClient, headers: dict[str, str], programme: str, month: str
) -> dict[str, Any]:
    response = await client.get(
        "/checkups/targets", params={"programme": programme, "month": month}, headers=headers
    )
    assert response.status_code == 200, response.text
    return {item["person_no"]: item for item in response.json()["items"]}


async def statuses(
    client: httpx.AsyncClient, headers: dict[str, str], person_no: str, month: str
) -> dict[str, str]:
    response = await client.get(
        f"/checkups/children/{person_no}", params={"month": month}, headers=headers
    )
    assert response.status_code == 200, response.text
    return {p["programme"]: p["status"] for p in response.json()["programmes"]}


async def test_born_on_the_31st_enters_the_4_month_window_on_the_1st(
    client: httpx.AsyncClient, auth: Auth, resident: Resident, db_session: AsyncSession
) -> None:
    # 31 August + 3 months: no 31 November, so 3 months old from 1 December.
    await resident("2000000001", "2026-08-31")
    await resident("2000000002", "2026-08-30")  # 3 months old on 30 November
    for month in ("2026-11", "2026-12"):
        async with UnitOfWork.on(db_session):
            await extract(db_session, programme="4m", period=Period.parse(month))
    november = await targets(client, auth(CHECKUP_SCOPES), "4m", "2026-11")
    december = await targets(client, auth(CHECKUP_SCOPES), "4m", "2026-12")
    assert set(november) == {"2000000002"}
    assert set(december) == {"2000000001"}
    assert december["2000000001"]["window_start"] == "2026-12-01"
    assert december["2000000001"]["window_end"] == "2027-03-30"  # day before 7 months (31 Mar)
    assert december["2000000001"]["reason"] == "entered"
    assert (await statuses(client, auth(CHECKUP_SCOPES), "2000000001", "2026-11"))[
        "4m"
    ] == "upcoming"
    assert (await statuses(client, auth(CHECKUP_SCOPES), "2000000001", "2026-12"))["4m"] == "due"


async def test_born_on_29_february(
    client: httpx.AsyncClient, auth: Auth, resident: Resident, db_session: AsyncSession
) -> None:
    await resident("2000000011", "2024-02-29")
    for month in ("2027-02", "2027-03"):
        async with UnitOfWork.on(db_session):
            await extract(db_session, programme="3y", period=Period.parse(month))
    assert await targets(client, auth(CHECKUP_SCOPES), "3y", "2027-02") == {}
    march = await targets(client, auth(CHECKUP_SCOPES), "3y", "2027-03")
    assert march["2000000011"]["window_start"] == "2027-03-01"  # 3 years old from 1 March 2027
    assert march["2000000011"]["window_end"] == "2028-02-28"  # 4 years old on 29 Feb 2028
    profile = await statuses(client, auth(CHECKUP_SCOPES), "2000000011", "2027-03")
    # 1y6m: 29 Aug 2025 to the day before 2 years (no 29 Feb 2026: 1 March) = 28 Feb 2026.
    assert profile == {
        "4m": "window_closed",
        "7m": "window_closed",
        "1y6m": "window_closed",
        "3y": "due",
    }


async def test_last_day_of_month_reminder_point_and_last_day_attendance(
    client: httpx.AsyncClient, auth: Auth, resident: Resident
) -> None:
    # Born 30 April: 4m window 30 Jul .. 29 Nov (7 months on 30 Nov), reminder from 30 Sep.
    await resident("2000000021", "2026-04-30")
    # Born 1 May: window ends 30 Nov, reminder from 1 Oct: not yet a non-attendee in September.
    await resident("2000000022", "2026-05-01")
    # Born 20 April: window ends 19 Nov; attends on that last day.
    await resident("2000000023", "2026-04-20")
    august = await non_attendees(client, auth(CHECKUP_SCOPES), "4m", "2026-08")
    september = await non_attendees(client, auth(CHECKUP_SCOPES), "4m", "2026-09")
    assert set(august) == set()
    assert set(september) == {"2000000021", "2000000023"}
    assert september["2000000021"]["reminder_from"] == "2026-09-30"
    assert (await statuses(client, auth(CHECKUP_SCOPES), "2000000022", "2026-09"))["4m"] == "due"

    response = await client.post(
        "/checkups/children/2000000023/results",
        json={
            "programme": "4m",
            "examined_on": "2026-11-19",
            "institution": "小倉北区役所 保健福祉課",
            "measurements": {
                "height_cm": "63.2",
                "weight_kg": "6.85",
                "head_circumference_cm": "41.0",
                "chest_circumference_cm": "41.5",
            },
            "development": {"head_control": "pass", "follows_with_eyes": "pass"},
            "findings": "特記事項なし",
            "judgement": "no_problem",
            "next_action": "7か月児健診のご案内",
        },
        headers=auth(CHECKUP_SCOPES),
    )
    assert response.status_code == 201, response.text
    assert set(await non_attendees(client, auth(CHECKUP_SCOPES), "4m", "2026-09")) == {"2000000021"}
    assert set(await non_attendees(client, auth(CHECKUP_SCOPES), "4m", "2026-11")) == {
        "2000000021",
        "2000000022",
    }
    assert (await statuses(client, auth(CHECKUP_SCOPES), "2000000023", "2026-11"))[
        "4m"
    ] == "attended"


async def test_moved_in_mid_window_is_invited_moved_out_and_dead_are_not(
    client: httpx.AsyncClient, auth: Auth, resident: Resident, db_session: AsyncSession
) -> None:
    # Born 10 April: 4m window 10 Jul .. 9 Nov. Lives elsewhere until 20 August.
    await resident("2000000031", "2026-04-10", residence_status="non_resident")
    await resident("2000000032", "2026-04-12")
    await resident("2000000033", "2026-04-14")
    async with UnitOfWork.on(db_session):
        await extract(db_session, programme="4m", period=Period.parse("2026-07"))
    assert set(await targets(client, auth(CHECKUP_SCOPES), "4m", "2026-07")) == {
        "2000000032",
        "2000000033",
    }
    await resident("2000000031", "2026-04-10", event="moved_in", version=2)
    await resident(
        "2000000032", "2026-04-12", event="moved_out", version=2, residence_status="moved_out"
    )
    await resident(
        "2000000033",
        "2026-04-14",
        event="died",
        version=2,
        residence_status="deceased",
        death_date="2026-08-01",
    )
    async with UnitOfWork.on(db_session):
        await extract(db_session, programme="4m", period=Period.parse("2026-08"))
    august = await targets(client, auth(CHECKUP_SCOPES), "4m", "2026-08")
    assert set(august) == {"2000000031"}
    assert august["2000000031"]["reason"] == "catch_up"
    assert set(await non_attendees(client, auth(CHECKUP_SCOPES), "4m", "2026-09")) == {"2000000031"}
    assert (await statuses(client, auth(CHECKUP_SCOPES), "2000000032", "2026-09"))[
        "4m"
    ] == "not_resident"


async def test_list_profile_and_letter_agree(
    client: httpx.AsyncClient,
    auth: Auth,
    resident: Resident,
    sessions: async_sessionmaker[AsyncSession],
    db_session: AsyncSession,
    tmp_path: Path,
) -> None:
    await resident(
        "2000000040", "1994-05-10", family_name="北九", given_name="花子", household_no="H040"
    )
    children = {
        "2000000041": ("2026-04-15", "H040", "一郎"),  # twins, one household
        "2000000042": ("2026-04-15", "H040", "二郎"),
        "2000000043": ("2026-04-30", "H043", "三郎"),  # reminder point 30 Sep: due
        "2000000044": ("2026-05-01", "H044", "四郎"),  # reminder point 1 Oct: not yet
        "2000000045": ("2025-07-31", "H045", "五郎"),  # 7m: ends 30 Jul 2026: closed
        "2000000046": ("2025-03-05", "H046", "六郎"),  # 1y6m: 5 Sep 25 .. 4 Mar 27: not yet
        "2000000047": ("2024-11-30", "H047", "七郎"),  # 1y6m ends 29 Nov 26, point 30 Sep
    }
    for person_no, (birth, household, name) in children.items():
        await resident(
            person_no,
            birth,
            household_no=household,
            given_name=name,
            mother_person_no="2000000040" if household == "H040" else None,
        )
    await resident("2000000048", "2026-04-15", ward=YAHATA_WEST, household_no="H048")
    month = str(SEPTEMBER)

    listed: set[tuple[str, str]] = set()
    for programme in ("4m", "7m", "1y6m", "3y"):
        listed |= {
            (p, programme)
            for p in await non_attendees(client, auth(CHECKUP_SCOPES), programme, month)
        }
    profiled = {
        (p, programme)
        for p in [*children, "2000000048"]
        for programme, status in (await statuses(client, auth(CHECKUP_SCOPES), p, month)).items()
        if status == "non_attendee"
    }
    summary = await run_reminders(sessions, period=SEPTEMBER, out_dir=tmp_path)
    lettered = set(
        await db_session.execute(
            select(CheckupNotice.person_no, CheckupNotice.programme_code).where(
                CheckupNotice.run_id == summary.run_id, CheckupNotice.status == "sent"
            )
        )
    )
    expected = {
        ("2000000041", "4m"),
        ("2000000042", "4m"),
        ("2000000043", "4m"),
        ("2000000047", "1y6m"),
        ("2000000048", "4m"),
    }
    assert listed == profiled == lettered == expected
    # Ward staff see their own ward only.
    ward_list = await non_attendees(client, auth(CHECKUP_SCOPES, ward=KOKURA_NORTH), "4m", month)
    assert "2000000048" not in ward_list
    hidden = await client.get(
        "/checkups/children/2000000048", headers=auth(CHECKUP_SCOPES, ward=KOKURA_NORTH)
    )
    assert hidden.status_code == 404  # another ward's child, answered as nobody

    # One letter per household: the twins share one.
    assert summary.households == 4
    assert summary.letters_sent == 4
    with (tmp_path / "reminders_202609.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    twins = next(r for r in rows if r["letter_no"].startswith("202609-H040-"))
    assert twins["children"] == "2"  # the contractor's CSV names no child
    assert twins["addressee"] == "北九 花子"
    assert twins["postal_code"] == "8030812"
    assert twins["address"] == "福岡県北九州市小倉北区城内1-1"
    letter = tmp_path / twins["file"]
    assert letter.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        body = await tool_output("pdftotext", str(letter), "-")
        assert "北九 一郎" in body
        assert "北九 二郎" in body
        assert "2026年7月15日〜2026年11月14日" in body
    if shutil.which("pdffonts"):
        fonts = await tool_output("pdffonts", str(letter))
        assert "IPAexGothic" in fonts
        assert " yes " in fonts  # embedded

    # The listing now shows they were reminded in September.
    after = await non_attendees(client, auth(CHECKUP_SCOPES), "4m", month)
    assert after["2000000041"]["reminded_in"] == "2026-09"
    # Every profile view and list view left an access record.
    actions = (
        await db_session.execute(
            select(AuditRecord.action, AuditRecord.target_id).where(
                AuditRecord.action == "checkup.profile.view"
            )
        )
    ).all()
    assert {t for _, t in actions} >= set(children)


async def test_detailed_exam_issues_a_voucher_and_follow_up(
    client: httpx.AsyncClient,
    auth: Auth,
    resident: Resident,
    sessions: async_sessionmaker[AsyncSession],
    db_session: AsyncSession,
    tmp_path: Path,
) -> None:
    await resident("2000000051", "2026-04-30")
    await resident("2000000052", "2026-04-29", household_no="H052")
    summary = await run_reminders(sessions, period=SEPTEMBER, out_dir=tmp_path)
    assert summary.children == 2
    profile = (
        await client.get(
            "/checkups/children/2000000052",
            params={"month": "2026-09"},
            headers=auth(CHECKUP_SCOPES),
        )
    ).json()
    four = next(p for p in profile["programmes"] if p["programme"] == "4m")
    reminder = next(n for n in four["notices"] if n["kind"] == "reminder")
    assert reminder["status"] == "sent"
    assert reminder["letter_no"].startswith("202609-H052-")

    refused = await client.post(
        f"/checkups/reminders/{reminder['id']}/follow-up",
        json={"outcome": "home_visit_needed", "note": "電話不通のため訪問"},
        headers=auth(CHECKUP_SCOPES),
    )
    assert refused.status_code == 200, refused.text

    result = {
        "programme": "4m",
        "examined_on": "2026-10-20",
        "institution": "北九州市立医療センター",
        "measurements": {"height_cm": "62.0", "weight_kg": "6.10"},
        "development": {"head_control": "fail"},
        "findings": "頚定不十分",
        "judgement": "detailed_exam",
        "next_action": "精密健康診査を受診",
        "detailed_exam_reason": "運動発達の遅れの疑い",
    }
    created = await client.post(
        "/checkups/children/2000000051/results", json=result, headers=auth(CHECKUP_SCOPES)
    )
    assert created.status_code == 201, created.text
    voucher = created.json()["voucher"]
    assert voucher["voucher_no"].startswith("2026" + "06")  # fiscal year, ward 小倉北区
    stored = (
        await db_session.execute(
            select(DetailedExamVoucher).where(DetailedExamVoucher.person_no == "2000000051")
        )
    ).scalar_one()
    assert stored.voucher_no == voucher["voucher_no"]
    # The result closed the non-attendance: the sent reminder is followed up as attended.
    closed = (
        await db_session.execute(
            select(CheckupNotice).where(
                CheckupNotice.person_no == "2000000051", CheckupNotice.kind == "reminder"
            )
        )
    ).scalar_one()
    await db_session.refresh(closed)
    assert closed.follow_up_outcome == "attended"
    assert "2000000051" not in await non_attendees(client, auth(CHECKUP_SCOPES), "4m", "2026-09")
    # The disclosure export (開示請求) shows the invitation, the reminder, the result and the
    # voucher alongside the rest of what boshi_core holds.
    disclosed = await client.get(
        "/people/2000000051/disclosure", headers=auth(("boshi:disclosure:export",))
    )
    assert disclosed.status_code == 200, disclosed.text
    body = disclosed.json()
    assert {n["kind"] for n in body["infant_checkup_notices"]} >= {"reminder"}
    assert [r["judgement"] for r in body["infant_checkup_results"]] == ["detailed_exam"]
    assert [v["voucher_no"] for v in body["detailed_exam_vouchers"]] == [voucher["voucher_no"]]

    again = await client.post(
        "/checkups/children/2000000051/results", json=result, headers=auth(CHECKUP_SCOPES)
    )
    assert again.status_code == 409
    future = await client.post(
        "/checkups/children/2000000052/results",
        json=result
        | {"examined_on": "2099-01-01", "judgement": "no_problem", "detailed_exam_reason": None},
        headers=auth(CHECKUP_SCOPES),
    )
    assert future.status_code == 422
    bad = await client.post(
        "/checkups/children/2000000052/results",
        json=result | {"judgement": "maybe"},
        headers=auth(CHECKUP_SCOPES),
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/checkups/non-attendees", {"programme": "4m", "month": "2026-09"}),
        ("/checkups/targets", {"programme": "4m", "month": "2026-09"}),
        ("/checkups/children/2000000061", {}),
    ],
)
async def test_checkup_reads_need_the_checkup_scope(
    client: httpx.AsyncClient, auth: Auth, path: str, params: dict[str, str]
) -> None:
    response = await client.get(path, params=params, headers=auth(CENTER_SCOPES))
    assert response.status_code == 403


async def test_bad_month_and_programme_are_422(client: httpx.AsyncClient, auth: Auth) -> None:
    for params in (
        {"programme": "4m", "month": "2026-13"},
        {"programme": "5m", "month": "2026-09"},
    ):
        response = await client.get(
            "/checkups/non-attendees", params=params, headers=auth(CHECKUP_SCOPES)
        )
        assert response.status_code == 422


async def test_extraction_endpoint_is_idempotent_and_programmes_are_data(
    client: httpx.AsyncClient, auth: Auth, resident: Resident, db_session: AsyncSession
) -> None:
    await resident("2000000071", "2026-08-31", household_no="H071")
    await resident("2000000072", "2026-08-31", household_no="H071")  # twins
    body = {"programme": "4m", "month": "2026-12"}
    first = await client.post("/checkups/extractions", json=body, headers=auth(CHECKUP_SCOPES))
    assert first.status_code == 200, first.text
    assert first.json()["invited"] == 2
    again = await client.post("/checkups/extractions", json=body, headers=auth(CHECKUP_SCOPES))
    assert again.json() | {"invited": None} == first.json() | {"invited": None}
    assert again.json()["invited"] == 0
    assert again.json()["invited_total"] == 2
    read_only = await client.post(
        "/checkups/extractions", json=body, headers=auth(("boshi:checkup:read",))
    )
    assert read_only.status_code == 403
    ward_staff = await client.post(
        "/checkups/extractions", json=body, headers=auth(CHECKUP_SCOPES, ward=KOKURA_NORTH)
    )
    assert ward_staff.status_code == 403
    programmes = await client.get(
        "/checkups/programmes", params={"month": "2026-12"}, headers=auth(CHECKUP_SCOPES)
    )
    windows = {p["code"]: (p["start_months"], p["end_months"]) for p in programmes.json()}
    assert windows == {"4m": (3, 7), "7m": (6, 12), "1y6m": (18, 24), "3y": (36, 48)}
