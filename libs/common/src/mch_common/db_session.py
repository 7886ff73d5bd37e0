"""The services' session: its transaction is one pooled connection that the hot paths drive
themselves, and the ORM joins it only when a request uses the ORM.

SQLAlchemy's own session lifecycle (begin, connection checkout, commit, close) costs several
times a BEGIN, a SELECT and a COMMIT sent by asyncpg (docs/benchmarks.md: 640-840 µs against
190 µs of CPU on one machine), most of it in its greenlet hops and state machines. A request
that sends its statements on the driver (`mch_common.db.on_driver`: the unit of work,
`insert_new`, `mch_common.driver_reads`) does not need it: `DriverFirstSession` holds one
`Connection`, the driver statements run on it in one asyncpg transaction, and
`end_transaction` commits that on the driver without a greenlet and leaves the connection to
the engine's next session (`WarmConnections`: not even the pool's checkout). A request that
uses the ORM (`add`, `execute`, `get`) gets the same connection from `get_bind`, so its
statements are in the same transaction, and the session's commit or rollback ends it (with
what was sent on the driver).

Everything else behaves as a `Session`: `begin()`, `commit()`, `rollback()`, `close()`,
savepoints, an error of the COMMIT raised as SQLAlchemy raises it.
"""

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import greenlet_spawn


class TransactionRolledBack(RuntimeError):
    """The transaction was to commit, but one of its statements had failed (its error caught
    and not undone by a savepoint's rollback): PostgreSQL would have answered COMMIT by
    rolling back, which asyncpg reports as success. It was rolled back."""

    def __init__(self) -> None:
        super().__init__("a statement of the transaction failed; it was rolled back")


class BegunOnDriver:
    """The adapter's transaction (in place of asyncpg's `Transaction`, whose `commit` and
    `rollback` are all SQLAlchemy calls) when BEGIN was sent with a first statement
    (`mch_common.db.begin_with`): COMMIT and ROLLBACK sent as statements, and a COMMIT that
    PostgreSQL answered by rolling back (a statement of it had failed) raised."""

    __slots__ = ("driver",)

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def commit(self) -> None:
        if await self.driver.execute("COMMIT") != "COMMIT":
            raise TransactionRolledBack()

    async def rollback(self) -> None:
        await self.driver.execute("ROLLBACK")


# The held connections on which a statement failed since their transaction (or the savepoint
# rolled back to) began; `end_transaction` refuses to commit them.
_FAILED: "weakref.WeakSet[Connection]" = weakref.WeakSet()


def watch_failed_statements(engine: Engine) -> None:
    """Keep track of failed statements on `engine`'s connections (once per engine)."""
    if not event.contains(engine, "handle_error", _statement_failed):
        event.listen(engine, "handle_error", _statement_failed)
        event.listen(engine, "rollback_savepoint", _savepoint_rolled_back)


def _statement_failed(context: ExceptionContext) -> None:
    if context.connection is not None and not context.is_disconnect:
        _FAILED.add(context.connection)


def _savepoint_rolled_back(connection: Connection, name: str, context: Any) -> None:
    _FAILED.discard(connection)  # a failure inside the savepoint is undone with it


@dataclass(slots=True)
class HeldConnection:
    connection: Connection
    adapted: Any  # SQLAlchemy's asyncpg adapter (the DBAPI connection)


def failed_before(held: HeldConnection) -> bool:
    """Whether a statement failed on the held connection since its transaction began."""
    return held.connection in _FAILED


# What the pool's ping-after-idle listener (mch_common.db) reads: since when a connection has
# sat unused.
IDLE_SINCE = "idle_since"


class WarmConnections:
    """The connections an engine's sessions hand to one another, kept checked out of its pool
    between transactions: checking one out and in again (`Engine.connect`, the pool's queue,
    its events and reset, a `Connection` made and closed, a greenlet) cost 30-90 µs of CPU a
    request, about a tenth of a request that sends two statements (docs/benchmarks.md,
    2026-12-06). A kept connection is handed out only as the pool would hand it out: once it
    has been unused for `idle_seconds` it goes back to the pool, which pings it on its next
    checkout, and it is never handed out after the pool was invalidated (a disconnect seen on
    another connection: PostgreSQL restarted) or disposed (`close_all`). A connection goes back
    to the pool instead of being kept when the pool has none left, as a session may be waiting
    there for one. SQLAlchemy's pool internals it reads are covered by tests/test_db_session.py."""

    __slots__ = ("engine", "idle_seconds", "kept")

    def __init__(self, engine: Engine, idle_seconds: float) -> None:
        self.engine = engine
        self.idle_seconds = idle_seconds
        self.kept: list[tuple[HeldConnection, float]] = []  # (it, unused since), newest last

    def take(self) -> HeldConnection | None:
        """The connection kept last, if one may be handed out; the others met on the way go
        back to the pool."""
        now = time.monotonic()
        while self.kept:
            held, since = self.kept.pop()
            if now - since < self.idle_seconds and self._reusable(held):
                return held
            _back_to_pool(held, since)
        return None

    def keep(self, held: HeldConnection) -> bool:
        """Keep a connection whose transaction has ended; False: it goes back to the pool."""
        pool = cast(QueuePool, self.engine.pool)  # (`keep_connections_warm` checked it)
        exhausted = pool.checkedin() == 0 and 0 <= pool._max_overflow <= pool.overflow()
        if len(self.kept) >= pool.size() or exhausted or not self._reusable(held):
            return False
        _FAILED.discard(held.connection)  # its transaction has ended
        self.kept.append((held, time.monotonic()))
        return True

    def _reusable(self, held: HeldConnection) -> bool:
        connection = held.connection
        if (
            connection.closed
            or connection.invalidated
            or connection.in_transaction()
            or held.adapted._transaction is not None
            or held.adapted.driver_connection.is_closed()
            or held.adapted.driver_connection.is_in_transaction()
        ):
            return False
        pool = self.engine.pool
        record = connection.connection._connection_record
        return (
            record is not None
            and connection.engine.pool is pool  # not a pool disposed since
            and record.starttime >= pool._invalidate_time
            and (pool._recycle < 0 or time.time() - record.starttime <= pool._recycle)
        )

    def close_all(self) -> None:
        """Close every kept connection (the engine is disposed: in a greenlet)."""
        kept, self.kept = self.kept, []
        for held, _ in kept:
            held.connection.invalidate()  # closes the driver's connection
            held.connection.close()


def _back_to_pool(held: HeldConnection, unused_since: float) -> None:
    record = held.connection.connection._connection_record
    _check_in(held)  # the pool's checkin listener marks it unused from now ...
    if record is not None:
        record.info[IDLE_SINCE] = unused_since  # ... but it has been since then


def _check_in(held: HeldConnection) -> None:
    """Back to the pool (nothing sent). One the server has closed (asyncpg saw its socket end:
    a restart, a terminated backend) is marked for the pool to connect afresh when it next
    hands it out, instead of handing it out to fail its first statement."""
    if held.adapted.driver_connection.is_closed() and not held.connection.invalidated:
        held.connection.connection.invalidate(soft=True)
    held.connection.close()


_WARM = "_mch_warm_connections"


def keep_connections_warm(engine: Engine, idle_seconds: float) -> None:
    """Let `engine`'s sessions hand their connections to one another (`WarmConnections`);
    `idle_seconds`: how long one may sit unused and still be handed out without a ping."""
    if isinstance(engine.pool, QueuePool) and getattr(engine, _WARM, None) is None:
        warm = WarmConnections(engine, idle_seconds)
        setattr(engine, _WARM, warm)
        event.listen(engine, "engine_disposed", lambda _engine: warm.close_all())


def _warm_of(engine: Any) -> WarmConnections | None:
    return getattr(engine, _WARM, None)


def _kept_warm(held: HeldConnection) -> bool:
    """Whether the connection was kept for the engine's next session (else: close it)."""
    warm = _warm_of(held.connection.engine)
    return warm is not None and warm.keep(held)


def connections_in_use(engine: AsyncEngine | Engine) -> int:
    """The connections sessions hold now: checked out of the pool and not kept warm."""
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    warm = _warm_of(sync)
    in_use: int = sync.pool.checkedout()  # type: ignore[attr-defined]
    return in_use - (len(warm.kept) if warm is not None else 0)


class DriverFirstSession(Session):
    """A `Session` (the sync half of an `AsyncSession`) whose transaction is a connection it
    holds (see the module's docstring)."""

    _held: HeldConnection | None = None
    _connected_for: SessionTransaction | None = None

    def held_connection(self) -> HeldConnection:
        """The transaction's connection, checked out on first use. Sync: call it in a greenlet
        (the pool may open a connection or ping an idle one)."""
        held = self._held or self.take_warm()
        if held is None:
            engine = self.bind
            if not isinstance(engine, Engine):
                raise TypeError("a DriverFirstSession is bound to an engine")
            connection = engine.connect()
            held = self._held = HeldConnection(connection, connection.connection.dbapi_connection)
        return held

    def take_warm(self) -> HeldConnection | None:
        """A connection another session left (`WarmConnections`), if there is one to take."""
        warm = _warm_of(self.bind)
        if warm is None:
            return None
        self._held = warm.take()
        return self._held

    def get_bind(self, mapper: Any = None, **kw: Any) -> Connection:
        return self.held_connection().connection

    def rollback(self) -> None:
        super().rollback()
        self._end(commit=False)  # statements on the driver the session had not seen

    def close(self) -> None:
        super().close()
        self._end(commit=False)

    def reset(self) -> None:
        super().reset()
        self._end(commit=False)

    def invalidate(self) -> None:
        super().invalidate()
        if self._held is not None and not self._held.connection.invalidated:
            self._held.connection.invalidate()
        self._end(commit=False)

    def _end(self, *, commit: bool) -> None:
        """End what is left of the held transaction and return its connection (in a
        greenlet: the COMMIT or ROLLBACK is a round trip)."""
        held, self._held = self._held, None
        self._connected_for = None
        if not commit:
            _transaction_ended(self, committed=False)
        if held is None:
            return
        try:
            if held.adapted._transaction is not None and not held.connection.invalidated:
                try:
                    held.adapted.commit() if commit else held.adapted.rollback()
                except Exception as error:  # noqa: BLE001 - raised as SQLAlchemy raises it
                    _raise_translated(held, "COMMIT" if commit else "ROLLBACK", error)
        finally:
            if not _kept_warm(held):
                _check_in(held)


_AFTER_COMMIT = "mch.after_commit"


def after_commit(session: AsyncSession, hook: Callable[[], None]) -> None:
    """Call `hook` once the session's transaction has committed, never if it rolls back: for
    what others may only learn of once it is durable (this process's outbox relays). Sessions
    of `mch_common.db.session_factory`; another session never calls it."""
    hooks: list[Callable[[], None]] = session.info.setdefault(_AFTER_COMMIT, [])
    if hook not in hooks:
        hooks.append(hook)


def _transaction_ended(session: Session, *, committed: bool) -> None:
    hooks = session.info.pop(_AFTER_COMMIT, ())
    for hook in hooks if committed else ():
        hook()


@event.listens_for(DriverFirstSession, "after_commit")
def _commit_held(session: Session) -> None:
    # Fired for a savepoint's release too: only the outermost commit ends the transaction.
    # The statements sent on the driver alone are still to commit (the ORM's are committed).
    current = session._transaction
    outermost = current is not None and current.parent is None and not current.nested
    if isinstance(session, DriverFirstSession) and outermost:
        session._end(commit=True)
        _transaction_ended(session, committed=True)


@event.listens_for(DriverFirstSession, "after_transaction_end")
def _release_held(session: Session, transaction: SessionTransaction) -> None:
    # The session's outermost transaction ended without a commit (rolled back or closed).
    if isinstance(session, DriverFirstSession) and transaction.parent is None:
        session._end(commit=False)


def _raise_translated(held: HeldConnection, sql: str, error: Exception) -> None:
    from mch_common.db import _raise_as_sqlalchemy  # mch_common.db imports this module

    _raise_as_sqlalchemy(held.connection, held.adapted, sql, error)


async def held_connection(session: AsyncSession) -> HeldConnection | None:
    """The connection a `DriverFirstSession` holds for its transaction (checked out if it was
    not yet); None for another session (a test's, bound to its own connection). When the
    session itself is in a transaction, that transaction (a savepoint's too: its SAVEPOINT is
    sent here) is given the connection first."""
    sync = session.sync_session
    if not isinstance(sync, DriverFirstSession):
        return None
    current = sync._transaction
    if current is not None and current is not sync._connected_for:
        await session.connection()
        sync._connected_for = current
    held = sync._held
    if held is None:
        held = sync.take_warm() or await greenlet_spawn(sync.held_connection)
    return held


async def end_transaction(session: AsyncSession, *, commit: bool) -> None:
    """Commit (or roll back) the session's transaction and release its connection. A request
    that did not use the ORM ends on the driver, without SQLAlchemy's session lifecycle."""
    sync = session.sync_session
    held = sync._held if isinstance(sync, DriverFirstSession) else None
    if commit and held is not None and failed_before(held):
        await end_transaction(session, commit=False)
        raise TransactionRolledBack()
    if not isinstance(sync, DriverFirstSession) or sync.in_transaction():
        async with session:  # closed however the commit ends, shielded as AsyncSession does
            await (session.commit() if commit else session.rollback())
        return
    held, sync._held = sync._held, None
    try:
        if held is not None:
            await _end_on_driver(held, commit=commit)
    except BaseException:
        _transaction_ended(sync, committed=False)
        raise
    _transaction_ended(sync, committed=commit)


async def _end_on_driver(held: HeldConnection, *, commit: bool) -> None:
    adapted = held.adapted
    pending = adapted._transaction
    adapted._transaction = None
    try:
        if pending is not None:
            try:
                await (pending.commit() if commit else pending.rollback())
            except TransactionRolledBack:
                raise
            except Exception as error:  # noqa: BLE001 - raised as SQLAlchemy raises it
                sql = "COMMIT" if commit else "ROLLBACK"
                await greenlet_spawn(_raise_translated, held, sql, error)
    except Exception:
        raise  # PostgreSQL ended the transaction (a disconnect invalidated the connection)
    except BaseException:
        # Cancelled mid-COMMIT: the connection's state is unknown, so it is closed, never
        # handed out again (outside a greenlet this sends nothing).
        held.connection.invalidate()
        raise
    finally:
        await _release(held)


async def _release(held: HeldConnection) -> None:
    """Kept for the next session, or back to the pool. Nothing is left to send, so this needs
    no greenlet, unless the pool is past its size (it closes the connection: a round trip) or
    the connection is broken."""
    if _kept_warm(held):
        return
    pool = held.connection.engine.pool
    overflowed = getattr(pool, "overflow", lambda: 0)() > 0
    if overflowed or held.connection.invalidated or held.connection.in_transaction():
        await greenlet_spawn(held.connection.close)
    else:
        _check_in(held)
