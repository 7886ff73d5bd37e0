"""The services' session (mch_common.db_session): one held connection per transaction, ended
on the driver when the ORM was not used, joined by the ORM when it is; always back in the
pool, never handed out again mid-transaction."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from sqlalchemy import Integer, event, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mch_common.db import (
    asyncpg_connection,
    begin_with,
    create_engine,
    execute_on_driver,
    on_driver_alone,
    session_factory,
    unit_of_work,
)
from mch_common.db_session import TransactionRolledBack, connections_in_use, held_connection
from mch_common.driver_reads import load_all
from mch_common.errors import Conflict
from mch_common.work import UnitOfWork


class _Base(DeclarativeBase):
    pass


class Held(_Base):
    __tablename__ = "held_sample"

    n: Mapped[int] = mapped_column(Integer, primary_key=True)
    tag: Mapped[int] = mapped_column(Integer)


ALL = select(Held).order_by(Held.n)
INSERT = "INSERT INTO held_sample (n, tag) VALUES ($1, $2)"
BACKEND = "SELECT pg_backend_pid()"


@pytest.fixture
async def pooled(database_url: str, owner_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    async with owner_engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS held_sample"))
        # The tag is unique only at COMMIT: a duplicate fails the COMMIT, not the INSERT.
        await conn.execute(
            text(
                "CREATE TABLE held_sample (n int PRIMARY KEY, tag int,"
                " CONSTRAINT held_tag UNIQUE (tag) DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    engine = create_engine(database_url, pool_size=2)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def made(pooled: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(pooled)


async def rows(pooled: AsyncEngine) -> list[tuple[int, int]]:
    async with pooled.connect() as conn:
        result = await conn.execute(text("SELECT n, tag FROM held_sample ORDER BY n"))
        return [(n, tag) for n, tag in result]


def checked_out(pooled: AsyncEngine) -> int:
    return connections_in_use(pooled)  # held by a session (not kept for the next one)


async def test_a_driver_only_unit_of_work_commits_and_returns_its_connection(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    async with unit_of_work(made) as session:
        await execute_on_driver(session, INSERT, 1, 10)
        assert checked_out(pooled) == 1
        # The session's own transaction: its reads see the insert before the commit.
        assert [h.n for h in await load_all(session, ALL)] == [1]
        assert session.sync_session.in_transaction() is False  # the ORM was never used
    assert checked_out(pooled) == 0
    assert await rows(pooled) == [(1, 10)]


async def test_an_error_rolls_the_driver_statements_back(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    async def failing() -> None:
        async with unit_of_work(made) as session:
            await execute_on_driver(session, INSERT, 1, 10)
            raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError):
        await failing()
    assert checked_out(pooled) == 0
    assert await rows(pooled) == []


async def test_the_orm_joins_the_driver_transaction_either_way_round(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    async with unit_of_work(made) as session:
        await execute_on_driver(session, INSERT, 1, 10)
        session.add(Held(n=2, tag=20))
        await session.flush()
        assert [h.n for h in await load_all(session, ALL)] == [1, 2]  # one transaction
        driver = await asyncpg_connection(session)
        assert await driver.fetchval(BACKEND) == (await session.execute(text(BACKEND))).scalar_one()
    async with unit_of_work(made) as session:
        session.add(Held(n=3, tag=30))
        await session.flush()  # the ORM first
        await execute_on_driver(session, INSERT, 4, 40)
        orm_seen = (await session.execute(select(Held.n).order_by(Held.n))).scalars().all()
        assert orm_seen == [1, 2, 3, 4]
    assert checked_out(pooled) == 0
    assert await rows(pooled) == [(1, 10), (2, 20), (3, 30), (4, 40)]


async def test_an_orm_error_rolls_back_what_the_driver_sent(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    async def duplicate() -> None:
        async with unit_of_work(made) as session:
            await execute_on_driver(session, INSERT, 1, 10)
            session.add(Held(n=1, tag=11))  # the same key
            await session.flush()

    with pytest.raises(IntegrityError):
        await duplicate()
    assert checked_out(pooled) == 0
    assert await rows(pooled) == []


async def test_begin_commit_rollback_and_close_end_the_held_transaction(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    async with made() as session, session.begin():
        await execute_on_driver(session, INSERT, 1, 10)  # committed by begin()'s block
    async with made() as session:
        await execute_on_driver(session, INSERT, 2, 20)
        await session.rollback()  # the ORM never began: the held transaction still ends
        assert checked_out(pooled) == 0
        await execute_on_driver(session, INSERT, 3, 30)  # a new transaction, a new checkout
        await session.commit()
    async with made() as session:
        await execute_on_driver(session, INSERT, 4, 40)
    # close() without a commit rolled 4 back
    assert checked_out(pooled) == 0
    assert await rows(pooled) == [(1, 10), (3, 30)]


async def test_a_savepoint_rolls_back_alone(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    async with unit_of_work(made) as session:
        await execute_on_driver(session, INSERT, 1, 10)
        async with session.begin_nested() as savepoint:
            await execute_on_driver(session, INSERT, 2, 20)
            await savepoint.rollback()
        async with session.begin_nested():
            await execute_on_driver(session, INSERT, 3, 30)  # released, kept
    assert await rows(pooled) == [(1, 10), (3, 30)]


async def test_a_savepoint_after_driver_statements_on_a_test_session(
    pooled: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # The test's sessions (bound to a rolled-back connection) take the other path to the
    # driver; a savepoint begun after it had been used is given the connection too.
    async with sessions() as session, session.begin():
        await execute_on_driver(session, INSERT, 1, 10)
        async with session.begin_nested() as savepoint:
            await execute_on_driver(session, INSERT, 2, 20)
            await savepoint.rollback()
        assert [h.n for h in await load_all(session, ALL)] == [1]
        await session.rollback()


async def test_a_failed_commit_is_raised_as_sqlalchemy_raises_it(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    async def duplicate_tag() -> None:
        async with unit_of_work(made) as session:
            await execute_on_driver(session, INSERT, 1, 10)
            await execute_on_driver(session, INSERT, 2, 10)  # the check waits for COMMIT

    with pytest.raises(IntegrityError) as failed:
        await duplicate_tag()
    assert "held_tag" in str(failed.value)
    assert checked_out(pooled) == 0
    assert await rows(pooled) == []
    async with unit_of_work(made) as session:  # the pool's connections still serve
        await execute_on_driver(session, INSERT, 3, 30)
    assert await rows(pooled) == [(3, 30)]


async def test_a_cancelled_request_never_hands_its_transaction_on(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    started = asyncio.Event()

    async def request() -> None:
        async with unit_of_work(made) as session:
            await execute_on_driver(session, INSERT, 1, 10)
            started.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(request())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert checked_out(pooled) == 0
    for n in (2, 3):  # every pooled connection is outside any transaction
        async with made() as session:
            fresh = text("SELECT txid_current_if_assigned() IS NULL")
            assert (await session.execute(fresh)).scalar()  # no write before this one
            await execute_on_driver(session, INSERT, n, n * 10)
            await session.commit()
    assert await rows(pooled) == [(2, 20), (3, 30)]


async def test_a_burst_past_the_pool_size_keeps_the_connections_it_opened(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    async def one(n: int) -> int:
        async with unit_of_work(made) as session:
            await execute_on_driver(session, INSERT, n, n)
            await asyncio.sleep(0.05)  # all four at once
            backend: int = await (await asyncpg_connection(session)).fetchval(BACKEND)
            return backend

    first = await asyncio.gather(*(one(n) for n in range(4)))  # pool_size 2: a burst of 4
    again = await asyncio.gather(*(one(n) for n in range(4, 8)))

    assert len(set(first)) == 4
    assert set(again) == set(first)  # no backend closed and opened again for the next burst
    assert checked_out(pooled) == 0
    assert len(await rows(pooled)) == 8


Engines = Callable[..., tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[Engines]:
    """`engines(**options)`: an engine of `create_engine`'s options and its sessions, disposed
    after the test."""
    made: list[AsyncEngine] = []

    def engine_with(**options: Any) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
        made.append(create_engine(database_url, **options))
        return made[-1], session_factory(made[-1])

    yield engine_with
    for pooled in made:
        await pooled.dispose()


async def backend_of(made: async_sessionmaker[AsyncSession]) -> int:
    async with unit_of_work(made) as session:
        backend: int = await (await asyncpg_connection(session)).fetchval(BACKEND)
        return backend


async def terminate(owner_engine: AsyncEngine, *pids: int) -> None:
    async with owner_engine.connect() as conn:
        for pid in pids:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def count_checkouts(pooled: AsyncEngine) -> list[int]:
    checkouts = [0]

    @event.listens_for(pooled.sync_engine, "checkout")
    def counted(*_: object) -> None:
        checkouts[0] += 1

    return checkouts


async def test_a_session_leaves_its_connection_to_the_next_without_the_pool(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    checkouts = count_checkouts(pooled)
    backends = {await backend_of(made) for _ in range(5)}
    async with made() as session:  # the ORM's way to the connection, and its commit
        await session.execute(text("INSERT INTO held_sample VALUES (1, 10)"))
        backends.add(await (await asyncpg_connection(session)).fetchval(BACKEND))
        await session.commit()
    backends.add(await backend_of(made))

    assert len(backends) == 1
    assert checkouts == [1]  # the first session's; every later one took it from the last
    assert checked_out(pooled) == 0
    assert await rows(pooled) == [(1, 10)]


async def test_a_kept_connection_unused_past_the_threshold_is_pinged_before_use(
    engines: Engines,
) -> None:
    pooled, made = engines(pool_size=1, ping_after_idle=0.2)
    checkouts = count_checkouts(pooled)
    pings = [0]
    ping = pooled.dialect.do_ping

    def counted_ping(connection: Any) -> bool:
        pings[0] += 1
        return ping(connection)

    pooled.dialect.do_ping = counted_ping  # type: ignore[method-assign, assignment]
    first = await backend_of(made)
    assert await backend_of(made) == first
    assert (checkouts, pings) == ([1], [0])  # handed on within the threshold
    await asyncio.sleep(0.3)
    # Back to the pool, which pings it before handing it out (a PostgreSQL restart in
    # the meantime would have it connect afresh, as tests/test_db.py shows).
    assert await backend_of(made) == first
    assert (checkouts, pings) == ([2], [1])


async def test_a_disconnect_seen_on_one_connection_retires_the_others_kept(
    engines: Engines,
) -> None:
    _, made = engines(pool_size=2, ping_after_idle=60)  # both are kept
    release = asyncio.Event()

    async def held_a_while() -> int:
        async with unit_of_work(made) as session:
            await release.wait()
            backend: int = await (await asyncpg_connection(session)).fetchval(BACKEND)
            return backend

    async def ended_by_the_server() -> None:
        async with unit_of_work(made) as session:
            await execute_on_driver(session, "SELECT pg_terminate_backend(pg_backend_pid())")

    both = [asyncio.create_task(held_a_while()) for _ in range(2)]
    await asyncio.sleep(0.05)
    release.set()
    kept = set(await asyncio.gather(*both))
    assert len(kept) == 2
    # One of them meets a disconnect (as in a PostgreSQL restart): SQLAlchemy takes
    # every connection of the pool made before it for dead, and so does the next
    # session, which is not handed the other, though it still answers.
    with pytest.raises(DBAPIError) as failure:
        await ended_by_the_server()
    assert failure.value.connection_invalidated
    assert await backend_of(made) not in kept


async def test_a_connection_the_server_closed_is_not_handed_out_again(
    engines: Engines, owner_engine: AsyncEngine
) -> None:
    _, made = engines(pool_size=1, ping_after_idle=60)  # no ping meanwhile
    first = await backend_of(made)
    await terminate(owner_engine, first)  # as a PostgreSQL restart ends it
    await asyncio.sleep(0.1)  # asyncpg sees its socket end
    # Neither kept nor handed out by the pool: it connects afresh, the session sees no error.
    assert await backend_of(made) != first
    async with unit_of_work(made) as session:  # one that died in a session's hands
        pid = await on_driver_alone(session, BACKEND, lambda driver: driver.fetchval(BACKEND))
        await terminate(owner_engine, pid)
        await asyncio.sleep(0.1)
    assert await backend_of(made) != pid


async def test_a_session_waiting_for_the_pool_gets_the_connection_given_up(
    engines: Engines,
) -> None:
    pooled, made = engines(pool_size=1)  # two connections in all
    release = asyncio.Event()

    async def holding() -> None:
        async with unit_of_work(made) as session:
            await asyncpg_connection(session)
            await release.wait()

    holders = [asyncio.create_task(holding()) for _ in range(2)]
    await asyncio.sleep(0.05)
    waiting = asyncio.create_task(backend_of(made))  # none left: it waits in the pool
    await asyncio.sleep(0.05)
    assert not waiting.done()
    release.set()  # the holders finish: what they give up goes to the one waiting
    await asyncio.wait_for(waiting, timeout=5)
    await asyncio.gather(*holders)
    assert connections_in_use(pooled) == 0
    # Nothing waits while sessions keep connections: the pool is never left empty by
    # them, so what takes its connections from the pool (the relay, the sealer) gets one.
    async with asyncio.timeout(1), pooled.connect() as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1


async def test_a_connection_whose_statement_failed_serves_the_next_session(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    async def failing() -> None:
        async with unit_of_work(made) as session:
            await execute_on_driver(session, INSERT, 1, 10)
            await execute_on_driver(session, INSERT, 1, 10)

    with pytest.raises(IntegrityError):
        await failing()
    async with unit_of_work(made) as session:  # the same connection, its failure forgotten
        await execute_on_driver(session, INSERT, 2, 20)
        await execute_on_driver(session, INSERT, 3, 30)
    assert await rows(pooled) == [(2, 20), (3, 30)]


async def test_disposing_the_engine_closes_the_connections_kept(
    database_url: str, owner_engine: AsyncEngine
) -> None:
    pooled = create_engine(database_url, pool_size=1)
    backend = await backend_of(session_factory(pooled))
    await pooled.dispose()
    async with owner_engine.connect() as conn:
        alive = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
        assert (await conn.execute(alive, {"pid": backend})).scalar_one() == 0


async def test_invalidate_and_reset_give_the_held_connection_up(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    async with made() as session:
        await execute_on_driver(session, INSERT, 1, 10)
        pid = await (await asyncpg_connection(session)).fetchval(BACKEND)
        await session.invalidate()  # closed, not back in the pool
        assert checked_out(pooled) == 0
        await execute_on_driver(session, INSERT, 2, 20)
        assert await (await asyncpg_connection(session)).fetchval(BACKEND) != pid
        await session.reset()  # rolled back, back in the pool
        assert checked_out(pooled) == 0
    assert await rows(pooled) == []


async def test_a_transaction_whose_statement_failed_is_not_reported_committed(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    # PostgreSQL answers COMMIT of a failed transaction by rolling back, which asyncpg reports
    # as success: a caller that caught the statement's error must not believe it committed.
    async def on_the_driver(session: AsyncSession) -> None:
        await execute_on_driver(session, INSERT, 1, 11)

    async def with_the_orm(session: AsyncSession) -> None:
        await session.execute(text("INSERT INTO held_sample VALUES (1, 11)"))

    async def catch_a_failed_statement(failing: Callable[[AsyncSession], Awaitable[None]]) -> None:
        async with unit_of_work(made) as session:
            await execute_on_driver(session, INSERT, 1, 10)
            with pytest.raises(IntegrityError):
                await failing(session)

    for failing in (on_the_driver, with_the_orm):
        with pytest.raises(TransactionRolledBack):
            await catch_a_failed_statement(failing)
        assert await rows(pooled) == []
        assert checked_out(pooled) == 0


async def test_a_failure_undone_by_its_savepoint_lets_the_transaction_commit(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    async def fail_in_a_savepoint(session: AsyncSession) -> None:
        async with session.begin_nested():
            await execute_on_driver(session, INSERT, 1, 11)

    async with unit_of_work(made) as session:
        await execute_on_driver(session, INSERT, 1, 10)
        with pytest.raises(IntegrityError):
            await fail_in_a_savepoint(session)
        await execute_on_driver(session, INSERT, 2, 20)
    assert await rows(pooled) == [(1, 10), (2, 20)]


async def test_a_statement_alone_commits_by_itself_until_the_transaction_begins(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    async def insert(session: AsyncSession, n: int) -> None:
        await on_driver_alone(session, INSERT, lambda driver: driver.execute(INSERT, n, n * 10))

    async def alone_then_in_a_failed_transaction() -> None:
        async with unit_of_work(made) as session:
            await insert(session, 1)
            assert await rows(pooled) == [(1, 10)]  # committed, seen from another connection
            await execute_on_driver(session, INSERT, 2, 20)  # the transaction begins
            await insert(session, 3)  # a statement of it
            raise RuntimeError("after")

    with pytest.raises(RuntimeError, match="after"):
        await alone_then_in_a_failed_transaction()
    assert await rows(pooled) == [(1, 10)]
    assert checked_out(pooled) == 0


SET_TAG = "SELECT set_config('mch.test_tag', '7', true)"
TAG = "SELECT current_setting('mch.test_tag', true)"


async def test_begin_with_sends_begin_and_its_statement_and_the_orm_joins_the_transaction(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    async with unit_of_work(made) as session:
        await begin_with(session, SET_TAG)
        await execute_on_driver(session, INSERT, 1, 10)
        session.add(Held(n=2, tag=20))
        await session.flush()
        assert await session.scalar(text(TAG)) == "7"  # the same transaction throughout
        async with session.begin_nested():
            await execute_on_driver(session, INSERT, 3, 30)
        assert await rows(pooled) == []  # not committed yet
    assert await rows(pooled) == [(1, 10), (2, 20), (3, 30)]
    assert checked_out(pooled) == 0
    async with unit_of_work(made) as session:  # the setting was the transaction's only
        assert await session.scalar(text(TAG)) in (None, "")


async def test_begin_with_in_a_begun_transaction_is_one_more_statement_of_it(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    async def write_then_fail() -> None:
        async with unit_of_work(made) as session:
            await execute_on_driver(session, INSERT, 1, 10)
            await begin_with(session, SET_TAG)
            assert await session.scalar(text(TAG)) == "7"
            raise RuntimeError("after")

    with pytest.raises(RuntimeError, match="after"):
        await write_then_fail()
    assert await rows(pooled) == []
    assert checked_out(pooled) == 0


async def test_a_transaction_begun_with_a_statement_is_not_reported_committed_after_a_failure(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    # Sent on asyncpg itself, the failure is seen by nothing but PostgreSQL: its answer to
    # COMMIT (ROLLBACK) is what tells.
    async def catch_a_failed_statement() -> None:
        async with unit_of_work(made) as session:
            await begin_with(session, SET_TAG)
            driver = await asyncpg_connection(session)
            await driver.execute(INSERT, 1, 10)
            with pytest.raises(asyncpg.UniqueViolationError):
                await driver.execute(INSERT, 1, 11)

    with pytest.raises(TransactionRolledBack):
        await catch_a_failed_statement()
    assert await rows(pooled) == []
    assert checked_out(pooled) == 0


class Sent(list[str]):
    """The statements sent on a session's asyncpg connection from `start` to `stop`."""

    def log(self, query: asyncpg.connection.LoggedQuery) -> None:
        self.append(query.query.strip().upper())

    async def start(self, session: AsyncSession) -> asyncpg.Connection:
        held = await held_connection(session)
        assert held is not None
        self.driver = held.adapted.driver_connection
        self.driver.add_query_logger(self.log)
        return self.driver

    async def stop(self) -> list[str]:
        await asyncio.sleep(0)  # asyncpg calls its loggers soon after, not during, the query
        self.driver.remove_query_logger(self.log)
        return [statement.split()[0] for statement in self]


async def test_reads_before_the_first_write_and_a_lone_last_write_send_no_begin_or_commit(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    sent = Sent()
    async with unit_of_work(made) as session:
        driver = await sent.start(session)
        assert await load_all(session, ALL) == []
        assert not driver.is_in_transaction()  # the read went alone
        UnitOfWork.of(session).insert(Held(n=1, tag=10))
    assert await sent.stop() == ["SELECT", "WITH"]  # the read, the one write: no BEGIN, no COMMIT
    assert await rows(pooled) == [(1, 10)]
    assert checked_out(pooled) == 0


async def test_a_locking_read_begins_the_transaction_that_holds_its_locks(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    async with unit_of_work(made) as session:
        await execute_on_driver(session, INSERT, 1, 10)
    sent = Sent()
    async with unit_of_work(made) as session:
        driver = await sent.start(session)
        assert [h.n for h in await load_all(session, ALL.with_for_update())] == [1]
        assert driver.is_in_transaction()
        async with made() as other:  # the row stays locked until this transaction ends
            held = await other.connection()
            await held.execute(text("SET LOCAL lock_timeout = '100ms'"))
            with pytest.raises(DBAPIError, match="lock timeout"):
                await held.execute(text("SELECT n FROM held_sample FOR UPDATE"))
    assert await sent.stop() == ["BEGIN;", "SELECT", "COMMIT;"]


async def test_a_flush_before_the_end_begins_the_transaction_so_a_later_error_undoes_it(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    async def flush_then_fail() -> None:
        async with unit_of_work(made) as session:
            assert await load_all(session, ALL) == []
            UnitOfWork.of(session).insert(Held(n=1, tag=10))
            await UnitOfWork.of(session).flush()  # not the last: in the transaction
            assert [h.n for h in await load_all(session, ALL)] == [1]
            raise RuntimeError("after")

    with pytest.raises(RuntimeError, match="after"):
        await flush_then_fail()
    assert await rows(pooled) == []
    assert checked_out(pooled) == 0


async def test_a_queued_insert_whose_unique_key_is_taken_gives_the_answer_named_for_it(
    pooled: AsyncEngine, made: async_sessionmaker[AsyncSession]
) -> None:
    async with unit_of_work(made) as session:
        await execute_on_driver(session, INSERT, 1, 10)
    taken = Conflict("number 1 is taken")

    async def insert(*rows: Held) -> None:
        async with unit_of_work(made) as session:
            for row in rows:
                UnitOfWork.of(session).insert(row, conflicts={"held_sample_pkey": taken})

    with pytest.raises(Conflict, match="number 1 is taken"):
        await insert(Held(n=2, tag=20), Held(n=1, tag=11))
    # Not named: raised as it is. Alone, the statement is its transaction: the deferred key is
    # checked with it.
    with pytest.raises(IntegrityError, match="held_tag"):
        await insert(Held(n=3, tag=10))
    assert await rows(pooled) == [(1, 10)]  # nothing of either unit of work
    assert checked_out(pooled) == 0
