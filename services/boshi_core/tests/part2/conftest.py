"""Fixtures for part 2 (checkups, reminders, center): the app with part 2's routers, people in
the read model with any birth date, household and residence status."""

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boshi_core.checkups.models import CheckupProgramme
from boshi_core.config import Settings
from boshi_core.main import create_app
from boshi_core.part2 import routers
from boshi_core.people.atena import AtenaClient
from boshi_core.people.repository import upsert_snapshot
from boshi_core.testsupport import FakeAtena, snapshot
from mch_testing.app import running_app
from mch_testing.keys import TestKeySet

KOKURA_NORTH = "401064"
YAHATA_WEST = "401099"
CHECKUP_SCOPES = ("boshi:checkup:read", "boshi:checkup:write")
CENTER_SCOPES = ("boshi:center:read", "boshi:center:write")

PROGRAMME_SEED = [
    ("4m", "4か月児健康診査 (4-month checkup)", 3, 7, 60),
    ("7m", "7か月児健康診査 (7-month checkup)", 6, 12, 60),
    ("1y6m", "1歳6か月児健康診査 (1 year 6 months checkup)", 18, 24, 60),
    ("3y", "3歳児健康診査 (3 years checkup)", 36, 48, 60),
]


def with_part2(app: FastAPI) -> FastAPI:
    """Include part 2's routers unless main.create_app already does."""
    paths = {getattr(route, "path", "") for route in app.routes}
    if "/checkups/targets" not in paths:
        for router in routers:
            app.include_router(router)
    return app


@pytest.fixture(autouse=True)
async def programmes(db_session: AsyncSession) -> None:
    """The seed rows of migration 0100, restored inside the test's transaction if a committed
    test elsewhere emptied the table."""
    if (await db_session.execute(select(CheckupProgramme).limit(1))).first() is None:
        db_session.add_all(
            CheckupProgramme(
                code=code,
                effective_from=date(2000, 4, 1),
                name=name,
                start_months=start,
                end_months=end,
                reminder_days_before_end=days,
                source="test seed",
            )
            for code, name, start, end, days in PROGRAMME_SEED
        )
        await db_session.commit()


@pytest.fixture
async def app_client(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    app = with_part2(create_app(settings, with_consumers=False))
    fake = FakeAtena()
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(fake.handler), base_url="http://atena.test"
    ) as atena_http:
        app.state.atena = AtenaClient(atena_http)
        async with running_app(app, sessions=sessions) as http:
            yield http


Headers = Callable[..., dict[str, str]]


@pytest.fixture
def staff(jwt_keys: TestKeySet) -> Headers:
    def headers(
        scopes: tuple[str, ...] = CHECKUP_SCOPES, *, ward: str | None = None, sub: str = "nurse-1"
    ) -> dict[str, str]:
        token = jwt_keys.mint(sub=sub, scopes=scopes, ward=ward, roles=("mch_staff",))
        return {"Authorization": f"Bearer {token}"}

    return headers


def person(
    person_no: str,
    birth_date: date | str,
    *,
    household_no: str | None = None,
    residence_status: str = "resident",
    ward: str = KOKURA_NORTH,
    family_name: str = "北九",
    given_name: str = "太郎",
    mother_person_no: str | None = None,
    version: int = 1,
    death_date: str | None = None,
    delivery_addresses: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A child (by default) as atena's events carry it."""
    return snapshot(
        person_no,
        birth_date=str(birth_date),
        sex="male",
        family_name=family_name,
        given_name=given_name,
        given_name_kana="タロウ",
        ward=ward,
        household_no=household_no or f"H{person_no}",
        relationship_to_head="子",
        phone=None,
        residence_status=residence_status,
        death_date=death_date,
        delivery_addresses=delivery_addresses,
        mother_person_no=mother_person_no,
        version=version,
    )


Resident = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def resident(db_session: AsyncSession) -> Resident:
    """Apply an atena snapshot to the read model (as the consumer would)."""

    async def add(
        person_no: str, birth_date: date | str, *, event: str = "registered", **kwargs: Any
    ) -> dict[str, Any]:
        snap = person(person_no, birth_date, **kwargs)
        await upsert_snapshot(db_session, snap, f"atena.person.{event}")
        await db_session.commit()
        return snap

    return add
