"""Alembic helpers: each service keeps its own migrations and calls these from env.py."""

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, pool
from sqlalchemy.ext.asyncio import create_async_engine

from mch_common.db import asyncpg_url


def alembic_config(script_location: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", asyncpg_url(database_url).replace("%", "%%"))
    return config


def upgrade(script_location: Path, database_url: str, revision: str = "head") -> None:
    """Run from sync code (a CLI, or a thread: env.py starts its own event loop)."""
    command.upgrade(alembic_config(script_location, database_url), revision)


async def upgrade_async(script_location: Path, database_url: str) -> None:
    await asyncio.to_thread(upgrade, script_location, database_url)


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's migrations/env.py."""

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        url = context.config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("sqlalchemy.url is not set")
        engine = create_async_engine(url, poolclass=pool.NullPool, hide_parameters=True)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(
            url=context.config.get_main_option("sqlalchemy.url"),
            target_metadata=target_metadata,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run_async())


def create_platform_tables(connection: Connection) -> None:
    """Called by each service's first migration: the outbox, inbox, audit log and idempotency
    key tables, and the trigger that makes the audit log append-only."""
    from mch_common.audit import AUDIT_APPEND_ONLY_DDL, AuditRecord
    from mch_common.events.tables import InboxEvent, OutboxEvent
    from mch_common.idempotency import IdempotencyRecord

    for model in (OutboxEvent, InboxEvent, AuditRecord, IdempotencyRecord):
        model.__table__.create(connection)  # type: ignore[attr-defined]
    for statement in AUDIT_APPEND_ONLY_DDL:
        connection.exec_driver_sql(statement)
    compress_outbox_with_lz4(connection)


def compress_outbox_with_lz4(connection: Connection, *, undo: bool = False) -> None:
    """The outbox's envelopes compressed by lz4, not PostgreSQL's default pglz, where the
    server has lz4 (a migration of each service; the first migration of a database made later
    does it too). A batch row's envelope (mch_common.events.batch) is megabytes of base64,
    which pglz went through and failed to compress: 2.1 µs of the database's time an event,
    0.8 with lz4, which gives up sooner and reads back faster. An envelope under 2 kB is not
    compressed either way. A server built without lz4 (the embedded one of `make run`) keeps
    pglz. `undo`: the server's default method again."""
    if not undo and not has_lz4(connection):
        return
    method = "DEFAULT" if undo else "lz4"
    connection.exec_driver_sql(f"ALTER TABLE outbox ALTER COLUMN envelope SET COMPRESSION {method}")


def has_lz4(connection: Connection) -> bool:
    """Whether the server was built with lz4 (`--with-lz4`; Debian's, the official images and
    CloudNativePG's are)."""
    return bool(
        connection.exec_driver_sql(
            "SELECT 'lz4' = ANY (enumvals) FROM pg_settings"
            " WHERE name = 'default_toast_compression'"
        ).scalar()
    )


def add_audit_log_persons(connection: Connection) -> None:
    """The audit log's `persons` column and its GIN index, for a database made before them
    (a migration of each service; a no-op on a database whose first migration made them)."""
    from mch_common.audit import AUDIT_PERSONS_DDL

    for statement in AUDIT_PERSONS_DDL:
        connection.exec_driver_sql(statement)


def add_idempotency_keys(connection: Connection) -> None:
    """The `idempotency_keys` table (mch_common.idempotency), for a database made before it
    (a migration of each service; a no-op on a database whose first migration made it)."""
    from mch_common.idempotency import IdempotencyRecord

    table = IdempotencyRecord.__table__
    table.create(connection, checkfirst=True)  # type: ignore[attr-defined]


def add_audit_retention(connection: Connection, *, min_years: int) -> None:
    """Let the audit log retire records older than `min_years`, the chain still
    verifiable (mch_common.audit_retention): the checkpoint table, the floor, the retiring
    function and the trigger that lets it delete. A later `add_audit_log_persons` would put
    the strict trigger back: call this after it."""
    from mch_common.audit_retention import retention_ddl

    for statement in retention_ddl(min_years):
        connection.exec_driver_sql(statement)
