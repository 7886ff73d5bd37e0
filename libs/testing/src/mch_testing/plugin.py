"""pytest plugin used by every package's tests (registered through the `pytest11` entry point).

Servers come from the environment (`TEST_DATABASE_URL` or `DATABASE_URL`, `NATS_URL`), else
testcontainers when a Docker engine answers, else the local servers on 127.0.0.1:5432 and
:4222, else embedded ones (see mch_testing.servers).

A service's conftest.py overrides `migrations_path` to point at its Alembic folder; the common
library's own tests create the platform tables directly.
"""

import itertools
import os
import secrets
from collections.abc import AsyncIterator, Collection, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from mch_common.db import (
    create_database,
    create_engine,
    database_name,
    drop_database,
    session_factory,
    with_database,
)
from mch_common.db_roles import drop_runtime_role, ensure_runtime_role
from mch_common.events.bus import EventBus
from mch_testing import servers
from mch_testing.audit import TamperingDatabase, tampering_settings

RUN_ID = secrets.token_hex(4)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server (its maintenance database); tests create their own database."""
    with servers.postgres_for_tests() as url:
        yield url


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    with servers.nats_for_tests() as url:
        yield url


@pytest.fixture(scope="session")
def migrations_path() -> Path | None:
    """Override in a service's conftest: the folder holding its Alembic env.py."""
    return None


@pytest.fixture(scope="session")
def test_database_name() -> str:
    return f"test_{RUN_ID}_{os.getpid()}"


class DatabaseFactory:
    """Creates migrated databases for this test session and drops them all at the end.
    Cross-service tests use one per service: services never share a database. Migrations run
    as the server's user, the owner; `create` answers the URL of the runtime role
    (`mch_common.db_roles`), as a service connects; `owner_url` gives the owner's."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.created: list[str] = []

    async def create(self, name: str, migrations_path: Path | None) -> str:
        await create_database(self.server_url, name)
        self.created.append(name)
        url = with_database(self.server_url, name)
        if migrations_path is not None:
            from mch_common.migrations import upgrade_async

            await upgrade_async(migrations_path, url)
        else:
            await servers.create_platform_schema(url)
        return await ensure_runtime_role(url)

    def owner_url(self, url: str) -> str:
        """The owner's URL of a database this factory created (to disable a trigger)."""
        return with_database(self.server_url, database_name(url))

    async def drop_all(self) -> None:
        for name in self.created:
            await drop_database(self.server_url, name)
            await drop_runtime_role(self.server_url, name)


@pytest.fixture(scope="session")
async def database_factory(postgres_server_url: str) -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory(postgres_server_url)
    try:
        yield factory
    finally:
        await factory.drop_all()


@pytest.fixture(scope="session")
async def database_url(
    database_factory: DatabaseFactory, test_database_name: str, migrations_path: Path | None
) -> str:
    """The database of this test session: created, migrated, dropped at the end; the URL of
    the runtime role, as the service connects."""
    return await database_factory.create(test_database_name, migrations_path)


@pytest.fixture(scope="session")
def owner_database_url(database_factory: DatabaseFactory, database_url: str) -> str:
    """The same database as its owner, for tests that play an attacker with owner rights."""
    return database_factory.owner_url(database_url)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url, pool_size=5)
    yield eng
    await eng.dispose()


@pytest.fixture
async def db_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that is rolled back after the test."""
    async with engine.connect() as conn:
        trans = await conn.begin()
        try:
            yield conn
        finally:
            if trans.is_active:
                await trans.rollback()


@pytest.fixture(scope="session")
async def owner_engine(owner_database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(owner_database_url, pool_size=2)
    yield eng
    await eng.dispose()


@pytest.fixture
async def owner_session(owner_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session as the database owner (the trigger's tests, an attacker with owner rights),
    in a transaction rolled back after the test."""
    async with owner_engine.connect() as conn:
        trans = await conn.begin()
        try:
            async with AsyncSession(bind=conn, expire_on_commit=False) as session:
                yield session
        finally:
            if trans.is_active:
                await trans.rollback()


@pytest.fixture
def sessions(db_connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Session factory bound to the rolled-back test transaction: commits become savepoints."""
    return async_sessionmaker(
        bind=db_connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )


@pytest.fixture
async def db_session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


@pytest.fixture(scope="session")
def preserved_tables() -> frozenset[str]:
    """Tables `committed_sessions` leaves alone; a service adds the reference data its
    migrations seed (rules, programmes)."""
    return frozenset({"audit_log", "alembic_version"})


@pytest.fixture
async def committed_sessions(
    engine: AsyncEngine, preserved_tables: frozenset[str]
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Real commits, for tests where other connections (a relay, a consumer) must see the data;
    every table but the append-only audit log and `preserved_tables` is emptied afterwards."""
    yield session_factory(engine)  # the services' own sessions (mch_common.db_session)
    await empty_tables(engine, keep=preserved_tables)


async def empty_tables(engine: AsyncEngine, *, keep: Collection[str]) -> None:
    """TRUNCATE every table of the public schema except `keep` (what committed tests wrote)
    and the audit log's retention tables (they go with the log, which is never emptied)."""
    keep = {*keep, "audit_checkpoint", "audit_retention"}
    async with engine.begin() as conn:
        tables = (
            (
                await conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
            )
            .scalars()
            .all()
        )
        doomed = [t for t in tables if t not in keep]
        if doomed:
            await conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in doomed) + " CASCADE"))


@pytest.fixture(scope="session")
def service_settings(
    database_url: str,
    nats_url: str,
    event_namespace: str,
    jwt_keys: Any,
    _delete_namespace_streams: None,  # services under test create streams of their own
) -> dict[str, Any]:
    """Keyword arguments for a service's Settings in tests: this session's servers and keys."""
    from mch_testing.keys import TEST_AUDIENCE, TEST_ISSUER

    return {
        "environment": "test",
        "database_url": database_url,
        "nats_url": nats_url,
        "event_namespace": event_namespace,
        "jwks_url": jwt_keys.jwks_url,
        "jwt_issuer": TEST_ISSUER,
        "jwt_audience": TEST_AUDIENCE,
    }


_TAMPERING_DATABASES = itertools.count()


@pytest.fixture
async def tampering_database(
    database_factory: DatabaseFactory,
    migrations_path: Path | None,
    test_database_name: str,
    service_settings: dict[str, Any],
) -> TamperingDatabase:
    """A database of its own for an audit chain test (mch_testing.audit), with an event
    namespace of its own: each test that asks for one gets a new one."""
    suffix = f"_tamper{next(_TAMPERING_DATABASES) or ''}"
    url = await database_factory.create(f"{test_database_name}{suffix}", migrations_path)
    return TamperingDatabase(
        settings=tampering_settings(service_settings, url, suffix),
        owner_url=database_factory.owner_url(url),
    )


@pytest.fixture(scope="session")
def event_namespace() -> str:
    """Prefix for every stream, subject and durable name of this test session."""
    return f"t{RUN_ID}{os.getpid()}"


@pytest.fixture(scope="session")
async def bus(
    nats_url: str, event_namespace: str, _delete_namespace_streams: None
) -> AsyncIterator[EventBus]:
    event_bus = await EventBus.connect(nats_url, namespace=event_namespace, name="tests")
    yield event_bus
    await event_bus.close(drain=False)


@pytest.fixture(scope="session")
async def _delete_namespace_streams(nats_url: str, event_namespace: str) -> AsyncIterator[None]:
    """At the end of the session, delete every stream of this session's namespace, whoever
    made it (a service under test creates its own)."""
    yield
    cleanup = await EventBus.connect(nats_url, namespace=event_namespace, name="tests-cleanup")
    try:
        await cleanup.delete_namespace()
    finally:
        await cleanup.close(drain=False)


from mch_testing.keys import TestKeySet, serve_jwks  # noqa: E402 - appended section


@pytest.fixture(scope="session")
def jwt_keys() -> Iterator[TestKeySet]:
    """Identity's signing keys for tests, the JWKS served over real HTTP at `jwt_keys.jwks_url`
    (issuer `TEST_ISSUER`, audience `TEST_AUDIENCE` from mch_testing.keys)."""
    keys = TestKeySet()
    with serve_jwks(keys):
        yield keys
