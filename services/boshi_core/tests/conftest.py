import sys
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boshi_core.checkups.models import CheckupProgramme
from boshi_core.config import Settings
from boshi_core.immunization.client import ImmunizationClient
from boshi_core.main import create_app
from boshi_core.migrate import MIGRATIONS
from boshi_core.people.atena import AtenaClient
from boshi_core.people.repository import upsert_snapshot
from boshi_core.testsupport import (
    ALL_SCOPES,
    Auth,
    Clock,
    FakeAtena,
    FakeBridge,
    Register,
    Resident,
    child,
    snapshot,
)
from mch_testing.app import running_app
from mch_testing.keys import TestKeySet

# The checkup programmes migration 0003 seeds.
PROGRAMME_SEED = [
    ("4m", "4か月児健康診査 (4-month checkup)", 3, 7, 60),
    ("7m", "7か月児健康診査 (7-month checkup)", 6, 12, 60),
    ("1y6m", "1歳6か月児健康診査 (1 year 6 months checkup)", 18, 24, 60),
    ("3y", "3歳児健康診査 (3 years checkup)", 36, 48, 60),
]


@pytest.fixture(scope="session")
def migrations_path() -> Path:
    return MIGRATIONS


@pytest.fixture(scope="session")
def preserved_tables() -> frozenset[str]:
    """Reference data the migrations seed: kept when a committed test cleans up after itself."""
    return frozenset(
        {
            "audit_log",
            "alembic_version",
            "voucher_rules",
            "risk_rule_sets",
            "checkup_programmes",
            "retention_rules",
            "birth_rules",
        }
    )


@pytest.fixture(scope="session")
def settings(service_settings: dict[str, Any]) -> Settings:
    return Settings(**service_settings, client_id="boshi_core")


@pytest.fixture
def fake_atena() -> FakeAtena:
    return FakeAtena()


@pytest.fixture
def fake_bridge() -> FakeBridge:
    return FakeBridge()


@pytest.fixture
async def client(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    fake_atena: FakeAtena,
    fake_bridge: FakeBridge,
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, with_consumers=False)
    async with (
        httpx.AsyncClient(
            transport=httpx.MockTransport(fake_atena.handler), base_url="http://atena.test"
        ) as atena_http,
        httpx.AsyncClient(
            transport=httpx.MockTransport(fake_bridge.handler), base_url="http://bridge.test"
        ) as bridge_http,
    ):
        app.state.atena = AtenaClient(atena_http)
        app.state.immunization = ImmunizationClient(bridge_http)
        async with running_app(app, sessions=sessions) as http:
            yield http


@pytest.fixture
def auth(jwt_keys: TestKeySet) -> Auth:
    def headers(
        scopes: tuple[str, ...] = ALL_SCOPES, *, ward: str | None = None, sub: str = "staff-0001"
    ) -> dict[str, str]:
        token = jwt_keys.mint(sub=sub, scopes=scopes, ward=ward, roles=("mch_staff",))
        return {"Authorization": f"Bearer {token}"}

    return headers


async def _apply(session: AsyncSession, snap: dict[str, Any], verb: str) -> dict[str, Any]:
    """Apply an atena snapshot to the read model as the consumer would, and commit."""
    await upsert_snapshot(session, snap, f"atena.person.{verb}")
    await session.commit()
    return snap


@pytest.fixture
def register(db_session: AsyncSession) -> Register:
    """Put a person in the read model as if atena's event had arrived."""

    async def add(person_no: str, **kwargs: Any) -> dict[str, Any]:
        return await _apply(db_session, snapshot(person_no, **kwargs), "registered")

    return add


@pytest.fixture
def resident(db_session: AsyncSession) -> Resident:
    """Put a child (by default) in the read model as if atena's event had arrived."""

    async def add(
        person_no: str, birth_date: date | str, *, event: str = "registered", **kwargs: Any
    ) -> dict[str, Any]:
        return await _apply(db_session, child(person_no, birth_date, **kwargs), event)

    return add


@pytest.fixture
async def programmes(db_session: AsyncSession) -> None:
    """The seed rows of migration 0003, restored inside the test's transaction if a committed
    test elsewhere emptied the table (the checkup, reminder and center tests use them)."""
    if (await db_session.execute(select(CheckupProgramme).limit(1))).first() is None:
        db_session.add_all(
            CheckupProgramme(
                code=code,
                effective_from=date(2000, 4, 1),
                name=name,
                start_months=start,
                end_months=end,
                reminder_days_before_end=days,
                detailed_exam_valid_days=90,
                source="test seed",
            )
            for code, name, start, end, days in PROGRAMME_SEED
        )
        await db_session.commit()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Move boshi_core's today (mch_common.dates.today_tokyo, as every boshi_core module
    imported it) to a chosen day: a rule version added for a later date is exercised on the
    day before it and on its first day."""
    clock = Clock()
    real = sys.modules["mch_common.dates"].today_tokyo

    def today_tokyo(now: datetime | None = None) -> date:
        return clock.day or real(now)

    for name, module in list(sys.modules.items()):
        if name.startswith("boshi_core") and getattr(module, "today_tokyo", None) is real:
            monkeypatch.setattr(module, "today_tokyo", today_tokyo)
    return clock
