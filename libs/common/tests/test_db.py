"""insert_new (one INSERT outside the unit of work, with the model's Python-side defaults),
statements sent straight on the transaction's asyncpg connection (in the transaction, failing
as SQLAlchemy fails) and the pool's ping of idle connections."""

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime
from uuid import UUID

import pytest
from sqlalchemy import String, func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

from mch_common.db import (
    asyncpg_connection,
    create_engine,
    execute_on_driver,
    insert_new,
    new_row,
    on_driver_alone,
    session_factory,
)
from mch_common.ids import uuid7


class _Base(DeclarativeBase):
    pass


class Sample(_Base):
    __tablename__ = "insert_new_sample"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    status: Mapped[str] = mapped_column(String(10), default="open")
    note: Mapped[str | None] = mapped_column(String(50))
    created: Mapped[str] = mapped_column(String(40), server_default=func.now().cast(String))


async def test_insert_new_writes_the_row_and_sets_python_defaults(
    owner_session: AsyncSession,
) -> None:
    db_session = owner_session  # DDL is the owner's; inside the test's transaction, rolled back
    await (await db_session.connection()).run_sync(_Base.metadata.create_all)
    row = Sample(note=None)

    await insert_new(db_session, row)

    assert row.id.version == 7
    assert row.status == "open"
    assert row not in db_session  # outside the unit of work: nothing is flushed twice
    stored = (await db_session.execute(select(Sample.__table__))).one()
    assert (stored.id, stored.status, stored.note) == (row.id, "open", None)
    assert stored.created  # the server default was left to the database


async def test_a_new_row_is_written_as_the_constructors_is(owner_session: AsyncSession) -> None:
    db_session = owner_session
    await (await db_session.connection()).run_sync(_Base.metadata.create_all)
    built, made = Sample(note="one"), new_row(Sample, note="two")

    await insert_new(db_session, built)
    await insert_new(db_session, made)

    assert made.id.version == 7  # its Python-side defaults set
    assert made.status == "open"
    stored = (await db_session.execute(select(Sample.__table__).order_by("note"))).all()
    assert [(r.id, r.status, r.note) for r in stored] == [
        (built.id, "open", "one"),
        (made.id, "open", "two"),
    ]


def test_a_new_row_refuses_what_the_constructor_refuses_or_would_check() -> None:
    with pytest.raises(TypeError, match="'nmae' is an invalid keyword argument for Sample"):
        new_row(Sample, nmae="typo")
    with pytest.raises(TypeError, match=r"Checked checks what is set: build it with Checked\(\)"):
        new_row(Checked, note="x")


class Checked(_Base):
    __tablename__ = "new_row_checked"

    id: Mapped[int] = mapped_column(primary_key=True)
    note: Mapped[str] = mapped_column(String(10))

    @validates("note")
    def _short(self, key: str, value: str) -> str:
        return value[:10]


async def test_insert_new_refuses_a_duplicate_as_sqlalchemy_does(
    owner_session: AsyncSession,
) -> None:
    db_session = owner_session
    await (await db_session.connection()).run_sync(_Base.metadata.create_all)
    first = Sample(note="secret note")
    await insert_new(db_session, first)

    with pytest.raises(IntegrityError) as refused:
        await insert_new(db_session, Sample(id=first.id, note="secret note"))

    assert "insert_new_sample_pkey" in str(refused.value.orig)  # what services match on
    assert "secret note" not in str(refused.value)  # parameters hidden, as the engine's are


async def test_a_statement_on_the_driver_first_in_a_transaction_is_in_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # SQLAlchemy sends BEGIN before its own first statement only: without it, these would
    # have committed on their own, and the rollback below would keep them.
    async with sessions() as session, session.begin():
        await execute_on_driver(session, "CREATE TEMPORARY TABLE kept (n int)")
        assert (await asyncpg_connection(session)).is_in_transaction()
        await session.rollback()
    async with sessions() as session, session.begin():
        driver = await asyncpg_connection(session)
        assert driver.is_in_transaction()
        assert await driver.fetchval("SELECT to_regclass('pg_temp.kept')") is None


async def test_a_disconnect_on_the_driver_invalidates_the_connection(
    database_url: str, engine: AsyncEngine
) -> None:
    pooled = create_engine(database_url, pool_size=1, ping_after_idle=60)
    try:
        async with AsyncSession(pooled) as session:
            pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await _terminate(engine, pid)
            with pytest.raises(DBAPIError) as failure:
                await execute_on_driver(session, "SELECT 1")
            assert failure.value.connection_invalidated
            await session.rollback()
        assert await _backend_pid(pooled) != pid  # the pool connected afresh
    finally:
        await pooled.dispose()


async def test_a_disconnect_met_by_begin_invalidates_the_connection(
    database_url: str, engine: AsyncEngine
) -> None:
    pooled = create_engine(database_url, pool_size=1, ping_after_idle=60)
    made = session_factory(pooled)

    def asyncpg_begun(session: AsyncSession) -> Awaitable[object]:
        return asyncpg_connection(session)

    def statement_begun(session: AsyncSession) -> Awaitable[object]:
        return execute_on_driver(session, "SELECT 1")

    try:
        for begin in (asyncpg_begun, statement_begun):
            async with made() as session:  # a read alone: the transaction has not begun
                pid = await on_driver_alone(
                    session, "pid", lambda driver: driver.fetchval("SELECT pg_backend_pid()")
                )
                await _terminate(engine, pid)
                await asyncio.sleep(0.05)
                with pytest.raises(DBAPIError) as failure:
                    await begin(session)  # BEGIN on the dead connection
                assert failure.value.connection_invalidated
                await session.rollback()
            assert await _backend_pid(pooled) != pid  # the pool connected afresh
    finally:
        await pooled.dispose()


async def test_asyncpg_connection_is_the_transactions_own(db_session: AsyncSession) -> None:
    await db_session.execute(text("CREATE TEMPORARY TABLE seen (n int) ON COMMIT DROP"))
    driver = await asyncpg_connection(db_session)

    await driver.copy_records_to_table("seen", records=[(1,), (2,)])

    assert (await db_session.execute(text("SELECT sum(n) FROM seen"))).scalar_one() == 3


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        pid: int = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        return pid


async def _terminate(engine: AsyncEngine, pid: int) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


async def test_a_connection_idle_past_the_threshold_is_pinged_and_replaced(
    database_url: str, engine: AsyncEngine
) -> None:
    pooled = create_engine(database_url, pool_size=1, ping_after_idle=0.2)
    try:
        first = await _backend_pid(pooled)
        await _terminate(engine, first)  # as a PostgreSQL restart would
        await asyncio.sleep(0.3)
        # The ping fails, the pool connects afresh: the caller never sees the dead connection.
        assert await _backend_pid(pooled) != first
    finally:
        await pooled.dispose()


async def test_a_connection_back_within_the_threshold_is_not_pinged(
    database_url: str, engine: AsyncEngine
) -> None:
    pooled = create_engine(database_url, pool_size=1, ping_after_idle=60)
    try:
        first = await _backend_pid(pooled)
        await _terminate(engine, first)
        # No ping: the dead connection is handed out, its first statement fails as a
        # disconnect, and the pool drops it. The next checkout is a fresh connection.
        with pytest.raises(DBAPIError) as failure:
            await _backend_pid(pooled)
        assert failure.value.connection_invalidated
        assert await _backend_pid(pooled) != first
    finally:
        await pooled.dispose()


async def test_a_new_connection_knows_the_array_types_before_its_first_statement(
    database_url: str,
) -> None:
    # asyncpg learns an array type's codec by a catalogue query the first time a statement
    # binds it; create_engine's connections learn uuid[], timestamptz[] and jsonb[] (the unit
    # of work's statement) and bigint[] (the relay's) when they open, so a request never waits
    # on those three extra round trips.
    pooled = create_engine(database_url, pool_size=1)
    queries: list[str] = []
    try:
        async with pooled.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            driver.add_query_logger(lambda record: queries.append(record.query))
            row = await driver.fetchrow(
                "SELECT $1::uuid[] AS ids, $2::timestamptz[] AS times, $3::jsonb[] AS details,"
                " $4::bigint[] AS positions",
                [uuid7()],
                [datetime.now(UTC)],
                ['{"a": 1}'],
                [1, 2],
            )
        assert row is not None
        assert row["positions"] == [1, 2]
        assert queries  # the logger sees this connection's statements
        assert not [q for q in queries if "typeinfo" in q or "pg_type" in q]
    finally:
        await pooled.dispose()
