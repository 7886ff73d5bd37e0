"""Handbook numbers and intake under concurrency: real commits, many transactions at once."""

import asyncio
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import boshi_core.pregnancy.service as service
from boshi_core.people.repository import upsert_snapshot
from boshi_core.pregnancy.models import Handbook, Pregnancy
from boshi_core.pregnancy.schemas import CheckupIn, IdentityCheck, NotificationForm
from boshi_core.testsupport import KOKURA_NORTH, YAHATA_WEST, notification, snapshot
from mch_common.auth.principal import Principal
from mch_common.dates import fiscal_year, today_tokyo
from mch_common.db import unit_of_work
from mch_common.errors import Conflict

STAFF = Principal(
    sub="staff-0001",
    tenant="401005",
    scopes=frozenset({"boshi:pregnancy:write"}),
    terminal="TERM-0001",
)


async def notify_at_window(session: AsyncSession, body: dict[str, Any]) -> Pregnancy:
    """The window notification `body` (testsupport.notification), through the service."""
    return await service.open_pregnancy(
        session,
        principal=STAFF,
        channel="window",
        person_no=body["person_no"],
        form=NotificationForm.model_validate(body["form"]),
        identity_check=IdentityCheck.model_validate(body["identity_check"]),
    )


def test_fiscal_year_starts_in_april() -> None:
    assert fiscal_year(date(2026, 3, 31)) == 2025
    assert fiscal_year(date(2026, 4, 1)) == 2026


async def test_concurrent_issues_number_without_gaps(
    committed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    mothers = [f"30000000{i:02d}" for i in range(24)]
    pregnancy_ids = []
    async with unit_of_work(committed_sessions) as session:
        for i, person_no in enumerate(mothers):
            await upsert_snapshot(session, snapshot(person_no), "atena.person.registered")
            body = notification(person_no, expected_children=2 if i % 3 == 0 else 1)
            pregnancy = await notify_at_window(session, body)
            pregnancy_ids.append(pregnancy.id)

    async def issue(index: int) -> None:
        async with unit_of_work(committed_sessions) as session:
            await service.issue_handbooks(
                session,
                principal=STAFF,
                pregnancy_id=pregnancy_ids[index],
                ward_code=YAHATA_WEST if index % 4 == 0 else KOKURA_NORTH,
            )
            if index == 5:
                raise RuntimeError("this issue fails after allocating: its numbers come back")

    results = await asyncio.gather(*(issue(i) for i in range(len(mothers))), return_exceptions=True)
    assert [type(r) for r in results if r is not None] == [RuntimeError]
    assert isinstance(results[5], RuntimeError)

    async with committed_sessions() as session:
        handbooks = (await session.execute(select(Handbook))).scalars().all()
    by_ward: dict[str, list[int]] = {}
    for handbook in handbooks:
        by_ward.setdefault(handbook.ward_code, []).append(handbook.serial)
        assert handbook.handbook_no.endswith(f"-{handbook.serial:05d}")
    for serials in by_ward.values():
        assert sorted(serials) == list(range(1, len(serials) + 1))  # gapless, no duplicates
    expected = sum(2 if i % 3 == 0 else 1 for i in range(len(mothers)) if i != 5)
    assert len(handbooks) == expected


async def test_concurrent_notifications_for_one_person_open_one_pregnancy(
    committed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    person_no = "3000000100"
    async with unit_of_work(committed_sessions) as session:
        await upsert_snapshot(session, snapshot(person_no), "atena.person.registered")
    body = notification(person_no)

    async def notify() -> None:
        async with unit_of_work(committed_sessions) as session:
            await notify_at_window(session, body)

    results = await asyncio.gather(*(notify() for _ in range(6)), return_exceptions=True)
    refused = [r for r in results if r is not None]
    assert len(refused) == 5
    assert all(isinstance(r, Conflict) for r in refused), refused
    async with committed_sessions() as session:
        opened = (
            (await session.execute(select(Pregnancy).where(Pregnancy.person_no == person_no)))
            .scalars()
            .all()
        )
    assert [p.status for p in opened] == ["open"]


async def test_a_checkup_waits_for_one_in_flight_on_the_same_pregnancy(
    committed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The checkup locks its pregnancy (on the driver, read-only) before judging whether it is
    the first: a second one waits, then sees the first committed and is not 'first' too."""
    async with unit_of_work(committed_sessions) as session:
        await upsert_snapshot(session, snapshot("3000000100"), "atena.person.registered")
        pregnancy = await notify_at_window(session, notification("3000000100", weeks=22))
    late = CheckupIn(checkup_date=today_tokyo(), gestational_weeks=22)

    async def record() -> list[str]:
        async with unit_of_work(committed_sessions) as session:
            checkup, _ = await service.record_checkup(
                session, principal=STAFF, pregnancy_id=pregnancy.id, checkup=late
            )
        return list(checkup.risk_flags)

    async with unit_of_work(committed_sessions) as session:
        first, _ = await service.record_checkup(
            session, principal=STAFF, pregnancy_id=pregnancy.id, checkup=late
        )
        second = asyncio.create_task(record())
        await asyncio.sleep(0.5)
        assert not second.done()  # held by the first's lock until it commits
    assert "late_first_checkup" in first.risk_flags
    assert "late_first_checkup" not in await second
