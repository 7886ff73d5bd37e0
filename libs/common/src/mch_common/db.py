"""Async SQLAlchemy helpers: a naming convention, engines, and one transaction per unit of work."""

import functools
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    NullPool,
    Table,
    bindparam,
    event,
    func,
    insert,
    inspect,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.orm.decl_base import _declarative_constructor
from sqlalchemy.util import await_, greenlet_spawn

from mch_common.db_session import (
    IDLE_SINCE,
    BegunOnDriver,
    DriverFirstSession,
    HeldConnection,
    end_transaction,
    failed_before,
    held_connection,
    keep_connections_warm,
    watch_failed_statements,
)
from mch_common.errors import DomainError

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    """Declarative base shared by every service's models.

    Each service has its own database, so one registry is enough; services import only their
    own models and the platform tables (outbox, inbox, audit log) defined in this library.
    """

    metadata = new_metadata()


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


def create_engine(
    url: str, *, pool_size: int = 10, pre_ping: bool = True, ping_after_idle: float = 1.0
) -> AsyncEngine:
    """An engine whose pool pings a connection before handing it out again once it has sat
    idle for `ping_after_idle` seconds (0: before every checkout; `pre_ping=False`: never).

    `pool_size` connections are what the process is expected to hold; a burst may open as many
    again. Every connection opened is kept: SQLAlchemy closes an overflow connection when it is
    returned, so a replica whose requests in flight wavered around `pool_size` opened and
    closed a PostgreSQL backend every few requests (seen: one inquiry in 25, on both sides a
    new backend's start and its statements prepared afresh)."""
    engine = create_async_engine(
        url,
        pool_size=2 * pool_size,
        max_overflow=0,
        pool_pre_ping=pre_ping and ping_after_idle <= 0,
        connect_args={"server_settings": {"timezone": "UTC", "application_name": "mch"}},
        hide_parameters=True,  # an error message (and so a log line) never quotes a value
    )
    if pre_ping and ping_after_idle > 0:
        _ping_after_idle(engine, ping_after_idle)
    if not pre_ping or ping_after_idle > 0:  # (a ping before every checkout: none kept)
        keep_connections_warm(engine.sync_engine, ping_after_idle if pre_ping else math.inf)
    event.listen(engine.sync_engine, "connect", _learn_array_types)
    return engine


# asyncpg knows the codecs of text[] and oid[] only; it learns any other array type by a
# catalogue query (6-13 ms of PostgreSQL's time, measured) the first time a statement on that
# connection binds it, one query per statement that brings new ones. The unit of work's
# statement (mch_common.work), the relay and the sealer bind these, so a connection learns
# them all in one query when it opens, not in the first requests that run on it.
_ARRAY_TYPES = (
    "SELECT $1::uuid[], $2::timestamptz[], $3::jsonb[], $4::bigint[], $5::integer[],"
    " $6::date[], $7::varchar[]"
)


def _learn_array_types(dbapi_connection: Any, _record: Any) -> None:
    await_(dbapi_connection.driver_connection.prepare(_ARRAY_TYPES))


def _ping_after_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """SQLAlchemy's pre-ping costs three round trips (BEGIN, a query, ROLLBACK) on every
    checkout, about a tenth of a busy service's CPU. A connection back in use within a second
    cannot have missed a PostgreSQL restart unnoticed: a restart takes longer, and the first
    disconnect error met during it makes the pool discard every connection it holds. So only
    a connection that has been idle is pinged (the pool's documented pessimistic recipe:
    DisconnectionError makes it connect afresh)."""
    dialect = engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _idle_since(dbapi_connection: Any, record: Any) -> None:
        record.info[IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get(IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return  # new, or back within the second
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("pooled connection failed its ping") from exc


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose transaction the hot paths drive on the driver (mch_common.db_session);
    committing one after a statement of it failed raises `TransactionRolledBack`."""
    watch_failed_statements(engine.sync_engine)
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, sync_session_class=DriverFirstSession
    )


@functools.cache
def _unit_of_work_class() -> Any:
    """mch_common.work.UnitOfWork, imported on first use: that module imports mch_common.events,
    whose consumer imports this one. (An import in the request's path took 7,700 instructions
    a request: the module's spec looked at each time.)"""
    from mch_common.work import UnitOfWork

    return UnitOfWork


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One explicit transaction with its unit of work (`UnitOfWork.of(session)`): what it
    queued is written just before commit; everything rolls back on any error."""
    session = factory()
    work = _unit_of_work_class()(session, factory)
    try:
        yield session
        await work.flush(last=True)
    except BaseException as error:
        await end_transaction(session, commit=False)
        # A refusal's access record outlives the rollback (mch_common.refusals.refusal).
        if (
            isinstance(error, DomainError)
            and error.pending_record is not None
            and not error.access_recorded
        ):
            await error.pending_record(factory)
        raise
    await end_transaction(session, commit=True)


async def insert_new(session: AsyncSession, row: DeclarativeBase) -> None:
    """INSERT a new object's row: one statement, prepared once per model and set of columns,
    sent on the transaction's asyncpg connection (`execute_on_driver`), without the unit of
    work or SQLAlchemy's execution path (each costs more CPU than the statement on a request's
    hot path). Python-side column defaults (ids, scalars) are set on the object first. The
    object stays out of the session: server defaults are not read back into it, and later
    changes to it are not written. (`UnitOfWork.insert` queues it instead, to go in the unit of
    work's one statement.)"""
    sql, args = insert_parts(row, dialect_of(session))
    await execute_on_driver(session, sql, *args)


_Row = TypeVar("_Row", bound=DeclarativeBase)
# Per model: its column attributes' keys and its class manager (which makes an instance).
_NEW_ROWS: dict[type[Any], tuple[frozenset[str], Any]] = {}


def new_row(model: type[_Row], **values: Any) -> _Row:
    """A new object of `model` holding `values`, for `UnitOfWork.insert` or `insert_new`: as
    `model(**values)` makes it, but without the ORM's event for each attribute set (a
    pregnancy's 31 columns: 19-21 -> 3.4 µs). An unknown name is refused as the constructor
    refuses it, and a model that checks what is set (validators, its own `__init__`) is
    refused. Read it as any object; it is made for its INSERT alone, never given to a session
    (`session.add`)."""
    made = _NEW_ROWS.get(model)
    if made is None:
        mapper = inspect(model)
        if mapper.validators or mapper.class_manager.original_init is not _declarative_constructor:
            raise TypeError(
                f"{model.__name__} checks what is set: build it with {model.__name__}()"
            )
        keys = frozenset(a.key for a in mapper.column_attrs)
        made = _NEW_ROWS[model] = (keys, mapper.class_manager)
    keys, manager = made
    unknown = values.keys() - keys
    if unknown:
        name = sorted(unknown)[0]
        raise TypeError(f"{name!r} is an invalid keyword argument for {model.__name__}")
    row = cast(_Row, manager.new_instance())
    row.__dict__.update(values)
    return row


def insert_parts(row: DeclarativeBase, dialect: Any) -> tuple[str, list[Any]]:
    """The INSERT of a new object's row as `insert_new` sends it (`$1`... in column order) and
    its arguments as the driver takes them; the object's Python-side defaults are set."""
    plan = _insert_plan(type(row))
    present = row.__dict__
    keys: list[str] = []
    for key, default in plan:
        if key not in present:
            if default is None:
                continue  # a server default: the database fills it in
            # Into the object's values, not through the attribute's descriptor (the ORM's
            # change tracking): the object is made for this INSERT and never flushed.
            present[key] = default()
        keys.append(key)
    sql, processors = _insert_statement(type(row), tuple(keys), dialect)
    return sql, [
        present[key] if process is None else process(present[key])
        for key, process in zip(keys, processors, strict=True)
    ]


_Processor = Any  # SQLAlchemy's bind processor: the Python value as the driver takes it
# Per model: each column attribute's key and its Python-side default (None: none, or the
# server's), in column order. Worked out once (a pregnancy's INSERT: 10.5 -> 6.2 µs).
_INSERT_PLANS: dict[type[Any], tuple[tuple[str, Callable[[], Any] | None], ...]] = {}
_INSERTS: dict[tuple[type[Any], tuple[str, ...]], tuple[str, tuple[_Processor, ...]]] = {}


def _insert_plan(model: type[Any]) -> tuple[tuple[str, Callable[[], Any] | None], ...]:
    plan = _INSERT_PLANS.get(model)
    if plan is not None:
        return plan
    mapper = inspect(model)
    table = mapper.local_table
    entries: list[tuple[str, Callable[[], Any] | None]] = []
    for attribute in mapper.column_attrs:
        column = attribute.columns[0]
        if (
            not isinstance(table, Table)
            or not isinstance(column, Column)
            or column.table is not table
        ):
            raise TypeError(f"insert_new takes a model mapped to one table, not {model}")
        entries.append((attribute.key, _python_default(column.default)))
    plan = _INSERT_PLANS[model] = tuple(entries)
    return plan


def _python_default(default: Any) -> Callable[[], Any] | None:
    if default is None:
        return None
    if default.is_callable:
        function = default.arg
        return lambda: function(None)
    if default.is_scalar:
        value = default.arg
        return lambda: value
    return None  # a SQL expression: the database computes it


def _insert_statement(
    model: type[Any], keys: tuple[str, ...], dialect: Any
) -> tuple[str, tuple[_Processor, ...]]:
    """The INSERT of these attributes' columns as SQLAlchemy compiles it for asyncpg (`$n`
    parameters in column order, with its casts), and each column's bind processor (JSON
    serialised, enums and the like as SQLAlchemy would send them)."""
    cached = _INSERTS.get((model, keys))
    if cached is None:
        mapper = inspect(model)
        columns = [mapper.column_attrs[key].columns[0] for key in keys]
        names = [f"p{n}" for n in range(len(columns))]
        compiled = (
            insert(mapper.local_table)
            .values({c: bindparam(n, type_=c.type) for c, n in zip(columns, names, strict=True)})
            .compile(dialect=dialect)
        )
        if list(compiled.positiontup or ()) != names:
            raise RuntimeError("the INSERT's parameters are not in column order")
        processors = tuple(c.type._cached_bind_processor(dialect) for c in columns)
        cached = _INSERTS[(model, keys)] = (compiled.string, processors)
    return cached


async def execute_on_driver(session: AsyncSession, sql: str, *args: Any) -> None:
    """Run one statement (asyncpg's `$1` parameters, values as asyncpg takes them) in the
    session's transaction on its asyncpg connection. For a statement on every request's path
    (the unit of work's, `insert_new`): SQLAlchemy's execution path costs several times the
    statement's own CPU there. asyncpg prepares it once per connection (its statement cache).
    A failure is raised as SQLAlchemy raises it (an IntegrityError for a constraint, parameters
    hidden, the pool invalidated after a disconnect)."""
    await on_driver(session, sql, lambda driver: driver.execute(sql, *args))


_T = TypeVar("_T")


async def on_driver(
    session: AsyncSession | AsyncConnection, sql: str, send: Callable[[Any], Awaitable[_T]]
) -> _T:
    """`send(driver)` with the asyncpg connection of the session's (or the connection's)
    transaction, begun if it was not yet; a driver error raised as SQLAlchemy raises it for
    `sql`. The one way the hot paths' statements (`execute_on_driver`,
    `mch_common.driver_reads`, the audit sealer's) reach the driver."""
    if isinstance(session, AsyncConnection):
        connection = session.sync_connection
        if connection is None:  # pragma: no cover - begun connections have theirs
            raise RuntimeError("the connection is not started")
        adapted: Any = connection.connection.dbapi_connection
    else:
        connection, adapted = await _transaction_connection(session)
    try:
        return await send(await _in_transaction(adapted))
    except Exception as error:  # every driver error (BEGIN's too): translated below
        await greenlet_spawn(_raise_as_sqlalchemy, connection, adapted, sql, error)
        raise  # pragma: no cover - the translation always raises


async def on_driver_alone(
    session: AsyncSession, sql: str, send: Callable[[Any], Awaitable[_T]]
) -> _T:
    """`send(driver)` as a transaction of its own while the session's transaction has not
    begun: PostgreSQL commits one statement by itself, so neither BEGIN nor COMMIT takes a
    round trip. For a read before the transaction's first write (`mch_common.driver_reads`;
    under READ COMMITTED each statement sees its own snapshot, in a transaction or not), the
    unit of work's statement when it is the only write (`UnitOfWork.flush(last=True)`), and
    work that is one statement (intermediate_server's hub deciding and logging a permit).
    Once the session's transaction has begun (a write, the ORM, a test's session), it is one
    more statement of that transaction, as `on_driver`."""
    held = await _held_before_begin(session)
    if held is None:
        return await on_driver(session, sql, send)
    try:
        return await send(held.adapted.driver_connection)
    except Exception as error:  # every driver error: translated below
        await greenlet_spawn(_raise_as_sqlalchemy, held.connection, held.adapted, sql, error)
        raise  # pragma: no cover - the translation always raises


async def begin_with(session: AsyncSession, sql: str) -> None:
    """BEGIN the session's transaction and run `sql` in the same round trip: one message of
    two statements, so `sql` takes no parameters (a literal the caller has checked), such as
    intermediate_server's tenant (`set_config`). In a transaction already begun (statements
    before it, the ORM, a test's session), `sql` alone, as one more statement of it."""
    held = await _held_before_begin(session)
    if held is None:
        await execute_on_driver(session, sql)
        return
    adapted = held.adapted
    driver = adapted.driver_connection
    adapted._transaction = BegunOnDriver(driver)
    try:
        await driver.execute(f"BEGIN; {sql}")
    except Exception as error:  # every driver error: translated below
        if not driver.is_in_transaction():
            adapted._transaction = None  # BEGIN itself failed: nothing to end
        await greenlet_spawn(_raise_as_sqlalchemy, held.connection, adapted, sql, error)
        raise  # pragma: no cover - the translation always raises


async def _held_before_begin(session: AsyncSession) -> HeldConnection | None:
    """The connection a `DriverFirstSession` holds while its transaction has not begun (no
    statement on the driver, no ORM); None once it has, or for another session."""
    if session.sync_session._transaction is not None:
        return None
    held = await held_connection(session)
    if held is None or held.adapted._transaction is not None or failed_before(held):
        return None  # after a failed statement: sent in a transaction, which will not commit
    return held


_DRIVER_OF_TRANSACTION = "mch_common.db.driver"


def dialect_of(session: AsyncSession) -> Any:
    """The session's dialect, without checking a connection out (read from the sync session:
    the async one's `bind` builds a proxy each time)."""
    bind = session.sync_session.bind
    if bind is None:
        raise TypeError("the session has no bind")
    return bind.dialect


async def _transaction_connection(session: AsyncSession) -> tuple[Connection, Any]:
    """The session's connection and its DBAPI adapter. A `DriverFirstSession` holds them; for
    another session (a test's) they are kept in `session.info` for the rest of the
    transaction: asking the session costs two greenlet switches (25 µs of CPU) for every
    statement a request sends on the driver."""
    held = await held_connection(session)
    if held is not None:
        return held.connection, held.adapted
    # The innermost transaction: a savepoint begun since is given the connection (SAVEPOINT).
    sync = session.sync_session
    transaction = sync.get_nested_transaction() or sync.get_transaction()
    kept = session.info.get(_DRIVER_OF_TRANSACTION)
    if (
        kept is not None
        and kept[0] is transaction
        and transaction is not None
        and transaction.is_active
        and not kept[1].invalidated
    ):
        return kept[1], kept[2]
    connection = (await session.connection()).sync_connection
    if connection is None:  # pragma: no cover - a started AsyncConnection has its own
        raise RuntimeError("the session's connection is closed")
    adapted: Any = connection.connection.dbapi_connection
    session.info[_DRIVER_OF_TRANSACTION] = (
        sync.get_nested_transaction() or sync.get_transaction(),
        connection,
        adapted,
    )
    return connection, adapted


async def _in_transaction(adapted: Any) -> Any:
    """The asyncpg connection, its transaction begun: SQLAlchemy's adapter sends BEGIN only
    before its own first statement, so a statement sent past it before that would commit on
    its own."""
    if adapted._transaction is None:
        await adapted._start_transaction()
    return adapted.driver_connection


def _raise_as_sqlalchemy(connection: Any, adapted: Any, sql: str, error: Exception) -> None:
    """SQLAlchemy's own handling of a driver error (run in its greenlet: invalidating a
    connection closes it through the adapter)."""
    try:
        adapted._handle_exception(error)  # asyncpg's error as the adapter's DBAPI error
    except Exception as translated:  # noqa: BLE001 - handed to SQLAlchemy as it is
        connection._handle_dbapi_exception(translated, sql, None, None, None)
    raise error  # pragma: no cover - both calls above always raise


async def asyncpg_connection(session: AsyncSession) -> Any:
    """The asyncpg connection of the session's transaction, for what SQLAlchemy does slowly
    or not at all (COPY, a 100,000-element array parameter); what it runs is in the same
    transaction, also when it is the transaction's first statement. Typed Any: asyncpg ships
    no types. A failed BEGIN is raised as SQLAlchemy raises it (a disconnect invalidates the
    connection and the pool)."""
    connection, adapted = await _transaction_connection(session)
    try:
        return await _in_transaction(adapted)
    except Exception as error:  # translated below
        await greenlet_spawn(_raise_as_sqlalchemy, connection, adapted, "BEGIN", error)
        raise  # pragma: no cover - the translation always raises


# --- database URLs and databases ------------------------------------------------------------

_POSTGRES_SCHEMES = (
    "postgresql",
    "postgres",
    "postgresql+asyncpg",
    "postgresql+psycopg2",
    "postgresql+psycopg",
)
MAINTENANCE_DATABASE = "postgres"
DUPLICATE_DATABASE = "42P04"  # SQLSTATE of CREATE DATABASE for a name that exists


def _split(url: str) -> tuple[str, str]:
    scheme, separator, rest = url.partition("://")
    if not separator or scheme not in _POSTGRES_SCHEMES:
        raise ValueError(f"not a PostgreSQL URL (scheme {scheme!r})")
    return scheme, rest


def asyncpg_url(url: str) -> str:
    """Any PostgreSQL URL as SQLAlchemy's asyncpg URL (`postgresql+asyncpg://`)."""
    return "postgresql+asyncpg://" + _split(url)[1]


def asyncpg_dsn(url: str) -> str:
    """Any PostgreSQL URL as the plain DSN that `asyncpg.connect` takes (`postgresql://`)."""
    return "postgresql://" + _split(url)[1]


def with_database(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@asynccontextmanager
async def _maintenance_connection(server_url: str) -> AsyncIterator[AsyncConnection]:
    # CREATE and DROP DATABASE refuse to run in a transaction; a pool would outlive the call.
    engine = create_async_engine(
        asyncpg_url(with_database(server_url, MAINTENANCE_DATABASE)),
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        hide_parameters=True,
    )
    try:
        async with engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()


async def create_database(server_url: str, name: str, *, exist_ok: bool = False) -> bool:
    """Create database `name` on the server of `server_url` (any database of it); True if it
    was created, False if it existed and `exist_ok`. Creating needs CREATEDB; finding it
    there already does not."""
    async with _maintenance_connection(server_url) as conn:
        if exist_ok and await conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ):
            return False
        try:
            await conn.execute(text(f"CREATE DATABASE {_quoted(name)}"))
        except DBAPIError as exc:
            # Another process created it since the look-up.
            if exist_ok and getattr(exc.orig, "sqlstate", None) == DUPLICATE_DATABASE:
                return False
            raise
    return True


async def drop_database(server_url: str, name: str) -> None:
    """Drop database `name` if it exists, ending its sessions first (tests, benchmarks)."""
    async with _maintenance_connection(server_url) as conn:
        await conn.execute(text(f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)"))
