"""The immunization bridge on this session's PostgreSQL and NATS; each test's requests run in a
transaction rolled back afterwards."""

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atena import events as atena_events
from immunization_bridge.children.consumer import apply_person_event
from immunization_bridge.config import Settings
from immunization_bridge.deps import (
    DISCLOSURE_EXPORT,
    RECORD_IMPORT,
    REGISTER_FILE_EXPORT,
    STATUS_READ,
)
from immunization_bridge.main import create_app
from mch_common.events import CloudEvent
from mch_common.person_numbers import person_no_from_serial
from mch_common.work import UnitOfWork
from mch_testing.app import client_in
from mch_testing.keys import TestKeySet

ALL_SCOPES = (RECORD_IMPORT, STATUS_READ, DISCLOSURE_EXPORT, REGISTER_FILE_EXPORT)
KOKURAKITA = "401064"  # 小倉北区
YAHATANISHI = "401099"  # 八幡西区
Headers = Callable[..., dict[str, str]]
MakeChild = Callable[..., Awaitable[str]]


@pytest.fixture(scope="session")
def migrations_path() -> Path:
    import immunization_bridge

    return Path(immunization_bridge.__file__).parent / "migrations"


@pytest.fixture(scope="session")
def preserved_tables() -> frozenset[str]:
    """The schedule is reference data its migration seeds."""
    return frozenset({"audit_log", "alembic_version", "schedule_rules"})


@pytest.fixture(scope="session")
def settings(service_settings: dict[str, Any]) -> Settings:
    return Settings(**service_settings)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings, with_consumers=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(
    app: FastAPI, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """Requests share the test's rolled-back transaction."""
    async with client_in(app, sessions) as c:
        yield c


@pytest.fixture
def headers(jwt_keys: TestKeySet) -> Headers:
    def make(*scopes: str, ward: str | None = None, sub: str = "staff-0001") -> dict[str, str]:
        token = jwt_keys.mint(sub=sub, scopes=scopes or ALL_SCOPES, ward=ward, roles=("mch_staff",))
        return {"Authorization": f"Bearer {token}"}

    return make


def person_event(
    person_no: str,
    *,
    birth_date: date,
    verb: str = "born",
    version: int = 1,
    ward_code: str = KOKURAKITA,
    residence_status: str = "resident",
    effective_date: date | None = None,
    family_name: str = "山田",
    given_name: str = "花子",
    death_date: date | None = None,
    extra: dict[str, Any] | None = None,
) -> CloudEvent:
    snapshot = {
        "person_no": person_no,
        "version": version,
        "residence_status": residence_status,
        "family_name": family_name,
        "given_name": given_name,
        "family_name_kana": "ヤマダ",
        "given_name_kana": "ハナコ",
        "sex": "female",
        "birth_date": birth_date.isoformat(),
        "death_date": death_date.isoformat() if death_date else None,
        "address": {"ward_code": ward_code, "municipality_code": "401005"},
    }
    return CloudEvent(
        source="urn:mch:401005:atena",
        type=atena_events.PERSON_EVENTS[verb].type,
        subject=person_no,
        tenant="401005",
        data={
            "person_no": person_no,
            "effective_date": (effective_date or birth_date).isoformat(),
            "before": {},
            "after": {},
            "person": snapshot,
            **(extra or {}),
        },
    )


@pytest.fixture
async def session(db_session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """The test's session with a unit of work, as a request's or a job's has."""
    async with UnitOfWork.on(db_session):
        yield db_session


@pytest.fixture
def make_child(db_session: AsyncSession) -> MakeChild:
    """Registers a child as atena's event would; answers the person number."""
    serials = iter(range(100_000_001, 100_100_000))

    async def make(birth_date: date, **event: Any) -> str:
        person_no = person_no_from_serial(next(serials))
        await apply_person_event(
            db_session, person_event(person_no, birth_date=birth_date, **event)
        )
        return person_no

    return make


def csv_file(*lines: str, encoding: str = "utf-8") -> bytes:
    header = "record_id,action,person_no,vaccine,dose_no,given_on,lot,institution_code"
    return "\r\n".join((header, *lines, "")).encode(encoding)
