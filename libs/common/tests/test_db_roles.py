"""The runtime role: normal work, but the audit log only grows, and its trigger stays on."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from mch_common.audit import AuditSealer, verify_chain
from mch_common.db import database_name, session_factory, unit_of_work
from mch_common.db_roles import ensure_runtime_role, runtime_role, runtime_url
from mch_common.work import UnitOfWork

REFUSED = (
    "UPDATE audit_log SET actor = 'someone'",
    "UPDATE audit_log SET hash = NULL",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
    "ALTER TABLE audit_log DISABLE TRIGGER USER",
    "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete",
    "DROP TRIGGER audit_log_no_update_delete ON audit_log",
    "DROP TABLE audit_log",
)


async def test_the_service_connects_as_the_runtime_role(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        user, superuser = (
            await conn.execute(
                text("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
            )
        ).one()
    assert user == runtime_role(database_name(str(engine.url)))
    assert superuser is False


async def _write_and_seal(engine: AsyncEngine) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        UnitOfWork.of(session).record(actor="svc:test", action="test.roles", target_id="1")
    sealer = AuditSealer(engine)
    while await sealer.seal_once():
        pass


@pytest.mark.parametrize("statement", REFUSED)
async def test_the_runtime_role_cannot_alter_the_audit_log(
    engine: AsyncEngine, statement: str
) -> None:
    await _write_and_seal(engine)  # so that a row trigger has a row to refuse
    async with engine.connect() as conn:
        with pytest.raises(DBAPIError) as refused:
            await conn.execute(text(statement))
        assert getattr(refused.value.orig, "sqlstate", None) == "42501"  # insufficient_privilege


async def test_the_runtime_role_writes_seals_and_verifies_the_log(engine: AsyncEngine) -> None:
    await _write_and_seal(engine)
    async with session_factory(engine)() as session:
        assert (await verify_chain(session)).ok


async def test_the_runtime_role_has_normal_rights_on_tables_added_later(
    owner_engine: AsyncEngine, engine: AsyncEngine
) -> None:
    async with owner_engine.begin() as conn:
        await conn.execute(text("CREATE TABLE later_table (id serial PRIMARY KEY, note text)"))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO later_table (note) VALUES ('a')"))
            await conn.execute(text("UPDATE later_table SET note = 'b'"))
            await conn.execute(text("DELETE FROM later_table"))
            await conn.execute(text("TRUNCATE later_table"))
    finally:
        async with owner_engine.begin() as conn:
            await conn.execute(text("DROP TABLE later_table"))


async def test_ensure_runtime_role_is_repeatable_and_sets_a_password(
    owner_database_url: str,
) -> None:
    url = await ensure_runtime_role(owner_database_url, password="p:w'%d")
    assert url == runtime_url(owner_database_url, password="p:w'%d")
    assert await ensure_runtime_role(owner_database_url) == runtime_url(owner_database_url)


async def test_the_runtime_role_has_normal_rights_in_the_owners_other_schemas(
    owner_engine: AsyncEngine, engine: AsyncEngine, owner_database_url: str
) -> None:
    """A service's own schema besides public (the intermediate server's `hub`)."""
    async with owner_engine.begin() as conn:
        await conn.execute(text("CREATE SCHEMA own_schema"))
        await conn.execute(text("CREATE TABLE own_schema.item (id serial PRIMARY KEY, note text)"))
    try:
        await ensure_runtime_role(owner_database_url)
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO own_schema.item (note) VALUES ('a')"))
            await conn.execute(text("UPDATE own_schema.item SET note = 'b'"))
            assert await conn.scalar(text("SELECT note FROM own_schema.item")) == "b"
            await conn.execute(text("DELETE FROM own_schema.item"))
    finally:
        async with owner_engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA own_schema CASCADE"))
