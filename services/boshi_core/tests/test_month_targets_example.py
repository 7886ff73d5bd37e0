"""The worked example of "the month's targets" in the README and the OpenAPI descriptions: a
child born on 31 January 2026 and the 4-month checkup (from 3 months to the day before 7
months, non-attendee 60 days before the window closes). If this test changes, change the
README's example with it."""

from datetime import date

import httpx

from boshi_core.checkups.windows import (
    Period,
    ProgrammeRule,
    is_non_attendee,
    is_target,
    window_for,
)
from boshi_core.testsupport import CHECKUP_SCOPES, Auth, Resident

BORN_31_JANUARY, MOVED_IN_IN_JUNE = "2000000108", "2000000116"
FOUR_MONTHS = ProgrammeRule(
    code="4m",
    name="4か月児健康診査",
    start_months=3,
    end_months=7,
    reminder_days_before_end=60,
    detailed_exam_valid_days=90,
    effective_from=date(2000, 4, 1),
)


def test_the_window_of_a_child_born_on_31_january() -> None:
    window = window_for(FOUR_MONTHS, date(2026, 1, 31))
    # No 31 April: 3 months old from 1 May. 7 months old on 31 August: the window ends the day
    # before. The reminder point is 60 days before the window's last day.
    assert (window.start, window.end, window.reminder_from) == (
        date(2026, 5, 1),
        date(2026, 8, 30),
        date(2026, 7, 1),
    )
    months = {month: Period.parse(f"2026-{month:02d}") for month in range(4, 10)}
    assert [m for m, p in months.items() if is_target(window, p)] == [5, 6, 7, 8]
    assert [m for m, p in months.items() if is_non_attendee(window, p)] == [7, 8]
    # The same child's 7-month checkup (6 months to the day before 1 year).
    seven = window_for(
        ProgrammeRule("7m", "7か月児健康診査", 6, 12, 60, 90, date(2000, 4, 1)), date(2026, 1, 31)
    )
    assert (seven.start, seven.end, seven.reminder_from) == (
        date(2026, 7, 31),
        date(2027, 1, 30),
        date(2026, 12, 1),
    )


async def test_the_month_by_month_story_of_a_child_born_on_31_january(
    client: httpx.AsyncClient, auth: Auth, resident: Resident, programmes: None
) -> None:
    staff = auth(CHECKUP_SCOPES)

    async def extract(month: str) -> dict[str, int]:
        response = await client.post(
            "/checkups/extractions", json={"programme": "4m", "month": month}, headers=staff
        )
        assert response.status_code == 200, response.text
        out: dict[str, int] = response.json()
        return out

    async def targets(month: str) -> dict[str, str]:
        response = await client.get(f"/checkups/targets?programme=4m&month={month}", headers=staff)
        assert response.status_code == 200, response.text
        return {t["person_no"]: t["reason"] for t in response.json()["items"]}

    async def non_attendees(month: str) -> set[str]:
        response = await client.get(
            f"/checkups/non-attendees?programme=4m&month={month}", headers=staff
        )
        assert response.status_code == 200, response.text
        return {c["person_no"] for c in response.json()["items"]}

    async def status(person_no: str, month: str) -> str:
        response = await client.get(f"/checkups/children/{person_no}?month={month}", headers=staff)
        assert response.status_code == 200, response.text
        [four_months] = [p for p in response.json()["programmes"] if p["programme"] == "4m"]
        return str(four_months["status"])

    await resident(BORN_31_JANUARY, "2026-01-31")
    # April: the window opens on 1 May, so not yet a target.
    assert await status(BORN_31_JANUARY, "2026-04") == "upcoming"
    await extract("2026-04")
    assert await targets("2026-04") == {}
    # May: the window opens within the month: invited, reason "entered".
    assert (await extract("2026-05"))["invited"] == 1
    assert await targets("2026-05") == {BORN_31_JANUARY: "entered"}
    assert await status(BORN_31_JANUARY, "2026-05") == "due"
    # June: a child of the same age moves in; the open window is caught up on ("catch_up"),
    # and the child invited in May is not invited again.
    await resident(MOVED_IN_IN_JUNE, "2026-01-31", event="moved_in")
    assert (await extract("2026-06"))["invited"] == 1
    assert await targets("2026-06") == {MOVED_IN_IN_JUNE: "catch_up"}
    assert await status(BORN_31_JANUARY, "2026-06") == "due"
    assert await non_attendees("2026-06") == set()
    # July: the reminder point (1 July) falls in the month and there is no result.
    assert await status(BORN_31_JANUARY, "2026-07") == "non_attendee"
    assert await non_attendees("2026-07") == {BORN_31_JANUARY, MOVED_IN_IN_JUNE}
    # A result takes the child off every list.
    recorded = await client.post(
        f"/checkups/children/{MOVED_IN_IN_JUNE}/results",
        json={
            "programme": "4m",
            "examined_on": "2026-07-10",
            "institution": "小倉医院",
            "judgement": "no_problem",
        },
        headers=staff,
    )
    assert recorded.status_code == 201, recorded.text
    assert await status(MOVED_IN_IN_JUNE, "2026-08") == "attended"
    # August: the window is still open until the 30th: still a non-attendee.
    assert await non_attendees("2026-08") == {BORN_31_JANUARY}
    # September: the window has closed.
    assert await status(BORN_31_JANUARY, "2026-09") == "window_closed"
    assert await non_attendees("2026-09") == set()
