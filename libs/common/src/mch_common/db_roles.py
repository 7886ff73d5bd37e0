"""The two database roles of a service: its migrations run as the database owner, the service
itself as `<database>_app`, which holds normal rights on every table but the audit log, where
it may only INSERT and SELECT (and seal: UPDATE of the seal columns alone, the trigger refusing
anything else). Not the owner and not a superuser, it cannot disable the audit log's trigger.

`ensure_runtime_role` runs after every migration (`make run`, the test plugin,
`deploy/docker/migrate.py`); default privileges cover the tables later migrations add."""

import asyncio

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from mch_common.db import asyncpg_url, database_name

RUNTIME_ROLE_SUFFIX = "_app"
TABLE_RIGHTS = "SELECT, INSERT, UPDATE, DELETE, TRUNCATE"
SEQUENCE_RIGHTS = "USAGE, SELECT, UPDATE"


def runtime_role(database: str) -> str:
    return f"{database}{RUNTIME_ROLE_SUFFIX}"


def runtime_url(owner_url: str, *, password: str | None = None) -> str:
    """The owner's URL with the runtime role (and its password, if any) as the user."""
    url = make_url(asyncpg_url(owner_url))
    role = runtime_role(database_name(owner_url))
    return url.set(username=role, password=password).render_as_string(hide_password=False)


def _grants(role: str, database: str) -> list[str]:
    quoted = '"' + role.replace('"', '""') + '"'
    db = '"' + database.replace('"', '""') + '"'
    return [
        f"GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {quoted}",
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"GRANT {TABLE_RIGHTS} ON ALL TABLES IN SCHEMA public TO {quoted}",
        f"GRANT {SEQUENCE_RIGHTS} ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
        # Revoking at table level also revokes the column-level UPDATE, so grant it after.
        f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {quoted}",
        f"GRANT UPDATE (chain_pos, prev_hash, hash) ON audit_log TO {quoted}",
        # Tables and sequences the owner creates later (the next migrations).
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {TABLE_RIGHTS} ON TABLES TO {quoted}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {SEQUENCE_RIGHTS} ON SEQUENCES "
        f"TO {quoted}",
    ]


# The audit log's retention (mch_common.audit_retention): the runtime role reads the
# checkpoints but writes neither them nor the floor; it retires only through audit_retire.
_HAS_RETENTION = text("SELECT to_regclass('audit_checkpoint') IS NOT NULL")


def _retention_revokes(role: str) -> str:
    quoted = '"' + role.replace('"', '""') + '"'
    return (
        "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_checkpoint, audit_retention "
        f"FROM {quoted}"
    )


# A service's own schemas besides public (the intermediate server's simulated hub keeps its
# tables in `hub`): the runtime role gets the same table rights there.
_OWN_SCHEMAS = text(
    "SELECT nspname FROM pg_namespace WHERE nspowner = "
    "(SELECT oid FROM pg_roles WHERE rolname = current_user) "
    "AND nspname NOT IN ('public', 'information_schema') AND nspname NOT LIKE 'pg\\_%' "
    "ORDER BY nspname"
)


def _schema_grants(role: str, schema: str) -> list[str]:
    quoted = '"' + role.replace('"', '""') + '"'
    name = '"' + schema.replace('"', '""') + '"'
    return [
        f"GRANT USAGE ON SCHEMA {name} TO {quoted}",
        f"GRANT {TABLE_RIGHTS} ON ALL TABLES IN SCHEMA {name} TO {quoted}",
        f"GRANT {SEQUENCE_RIGHTS} ON ALL SEQUENCES IN SCHEMA {name} TO {quoted}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {name} GRANT {TABLE_RIGHTS} ON TABLES TO {quoted}",
    ]


async def ensure_runtime_role(owner_url: str, *, password: str | None = None) -> str:
    """Create or update `<database>_app` and its grants, connected as the owner (who needs
    CREATEROLE while the role is missing or a password is set); returns the runtime URL.
    Safe to run after every migration."""
    database = database_name(owner_url)
    role = runtime_role(database)
    engine = create_async_engine(asyncpg_url(owner_url), poolclass=NullPool, hide_parameters=True)
    try:
        async with engine.begin() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
            )
            if not exists:
                statement = await conn.scalar(
                    text(
                        "SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB "
                        "NOCREATEROLE NOREPLICATION NOBYPASSRLS', CAST(:role AS text))"
                    ),
                    {"role": role},
                )
                await conn.exec_driver_sql(statement)
            if password is not None:
                # Quoted by PostgreSQL itself: a utility statement takes no bound parameters.
                statement = await conn.scalar(
                    text(
                        "SELECT format('ALTER ROLE %I PASSWORD %L', CAST(:role AS text), "
                        "CAST(:password AS text))"
                    ),
                    {"role": role, "password": password},
                )
                await conn.exec_driver_sql(statement)
            for statement in _grants(role, database):
                await conn.exec_driver_sql(statement)
            if await conn.scalar(_HAS_RETENTION):
                await conn.exec_driver_sql(_retention_revokes(role))
            for schema in (await conn.execute(_OWN_SCHEMAS)).scalars().all():
                for statement in _schema_grants(role, schema):
                    await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()
    return runtime_url(owner_url, password=password)


def ensure_runtime_role_sync(owner_url: str, *, password: str | None = None) -> str:
    """`ensure_runtime_role` for scripts without an event loop."""
    return asyncio.run(ensure_runtime_role(owner_url, password=password))


async def drop_runtime_role(server_url: str, database: str) -> None:
    """Drop `<database>_app` once its database is gone (tests, benchmarks)."""
    engine = create_async_engine(asyncpg_url(server_url), poolclass=NullPool, hide_parameters=True)
    try:
        async with engine.begin() as conn:
            statement = await conn.scalar(
                text("SELECT format('DROP ROLE IF EXISTS %I', CAST(:role AS text))"),
                {"role": runtime_role(database)},
            )
            await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()
