"""The intermediate server on this session's PostgreSQL and NATS, with two tenants on it:
Kitakyushu (401005) and Fukuoka City (401307). Each test's requests run in a transaction rolled
back afterwards (the hub's and the other tenant's transactions too: one connection)."""

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Connection, event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from intermediate_server.config import Settings
from intermediate_server.deps import (
    APPROVE,
    CODE_WRITE,
    INQUIRE,
    RECORDS_READ,
    REPLICA_WRITE,
)
from intermediate_server.main import create_app
from mch_common.mynumber import generate_my_number
from mch_testing.app import client_in
from mch_testing.keys import TestKeySet

KITAKYUSHU = "401005"
FUKUOKA = "401307"
CLAUSE_80 = "主務省令第2条の表80の項"
CLAUSE_95 = "主務省令第2条の表95の項"
ALL_SCOPES = (CODE_WRITE, REPLICA_WRITE, INQUIRE, APPROVE, RECORDS_READ)
Headers = Callable[..., dict[str, str]]
Person = Callable[..., Awaitable[str]]


@pytest.fixture(scope="session")
def migrations_path() -> Path:
    import intermediate_server

    return Path(intermediate_server.__file__).parent / "migrations"


@pytest.fixture(scope="session")
def preserved_tables() -> frozenset[str]:
    """The gateway's copy of the permission list is seeded by the migration."""
    return frozenset({"audit_log", "alembic_version", "permission_copy"})


@pytest.fixture(scope="session")
def settings(service_settings: dict[str, Any]) -> Settings:
    return Settings(**service_settings)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings, with_consumers=False)
    async with application.router.lifespan_context(application):
        yield application


async def add_tenants(session: AsyncSession) -> None:
    await session.execute(
        text(
            "INSERT INTO tenant (code, name) VALUES ('401005', '北九州市'), ('401307', '福岡市') "
            "ON CONFLICT DO NOTHING"
        )
    )


def _tenantless_when_outermost(db_connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """The app's sessions on the test's connection, where an outermost transaction (a
    request's, or a refusal committed after it) starts without a tenant, as one on its own
    connection does; a tenant that a released savepoint set would otherwise outlive it. The
    transactions a request opens meanwhile (the hub's, the provider's) share its connection
    and are left alone, as the exchange expects (exchange.service.shares_connection)."""
    open_transactions: set[SessionTransaction] = set()

    class TenantlessSession(Session):
        pass

    @event.listens_for(TenantlessSession, "after_begin")
    def begin(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
        if not open_transactions:
            connection.exec_driver_sql("SELECT set_config('app.tenant', '', true)")
        open_transactions.add(transaction)

    @event.listens_for(TenantlessSession, "after_transaction_end")
    def end(session: Session, transaction: SessionTransaction) -> None:
        open_transactions.discard(transaction)

    return async_sessionmaker(
        bind=db_connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
        sync_session_class=TenantlessSession,
    )


@pytest.fixture
async def client(
    app: FastAPI, db_connection: AsyncConnection, db_session: AsyncSession
) -> AsyncIterator[httpx.AsyncClient]:
    """Requests share the test's rolled-back transaction."""
    await add_tenants(db_session)
    try:
        async with client_in(app, _tenantless_when_outermost(db_connection)) as c:
            yield c
    finally:
        app.state.hub = None


@pytest.fixture
def headers(jwt_keys: TestKeySet) -> Headers:
    def make(
        *scopes: str, tenant: str = KITAKYUSHU, sub: str = "staff-0001", service: bool = False
    ) -> dict[str, str]:
        token = jwt_keys.mint(
            sub=f"svc:{sub}" if service else sub,
            scopes=scopes or ALL_SCOPES,
            tenant=tenant,
            roles=() if service else ("mch_staff",),
            terminal=None if service else "TERM-0001",
        )
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def person(client: httpx.AsyncClient, headers: Headers) -> Person:
    """Registers a person's 符号 in a tenant (as atena does); answers the person number."""
    serials = iter(range(1, 10_000))

    async def make(
        tenant: str, *, my_number: str | None = None, person_no: str | None = None
    ) -> str:
        number = person_no or f"{tenant[:4]}{next(serials):05d}0"
        answer = await client.post(
            "/codes",
            json={
                "people": [{"person_no": number, "my_number": my_number or generate_my_number()}]
            },
            headers=headers(CODE_WRITE, tenant=tenant, sub="atena", service=True),
        )
        assert answer.status_code == 200, answer.text
        return number

    return make


def checkup(
    record_key: str, *, taken_on: date, kind: str = "infant_4m", **extra: Any
) -> dict[str, Any]:
    return {
        "record_key": record_key,
        "as_of": datetime(2026, 11, 1, tzinfo=UTC).isoformat(),
        "data": {"checkup_kind": kind, "taken": True, "taken_on": taken_on.isoformat(), **extra},
    }


@pytest.fixture
async def committed_client(
    app: FastAPI, committed_sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """Requests with real commits: a refused inquiry's records are committed apart from the
    request's rolled-back transaction, the provider's in a transaction of its own."""
    async with committed_sessions() as session, session.begin():
        await add_tenants(session)
    try:
        async with client_in(app, committed_sessions) as c:
            yield c
    finally:
        app.state.hub = None


# Numbers register_person gave out: the committed database keeps every test's people, and two
# tests drawing the same number of 100,000 saw each other's records (a CI run on 2026-12-06).
_REGISTERED: set[str] = set()


async def register_person(
    client: httpx.AsyncClient, headers: Headers, tenant: str, *, my_number: str
) -> str:
    """A person with a 符号 in `tenant` (as atena registers them); answers the person number,
    new in this test session."""
    while (number := f"{tenant[:4]}{secrets.randbelow(10**5):05d}1") in _REGISTERED:
        pass
    _REGISTERED.add(number)
    answer = await client.post(
        "/codes",
        json={"people": [{"person_no": number, "my_number": my_number}]},
        headers=headers(CODE_WRITE, tenant=tenant, sub="atena", service=True),
    )
    assert answer.status_code == 200, answer.text
    return number
