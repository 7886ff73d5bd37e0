"""Migration 0012 on a platform whose boshi_core client was registered before it: the client
gets e_application's and the intermediate server's disclosure scopes (boshi_core collects a
disclosure from every service), once; a downgrade takes them back and nothing else."""

import asyncio
from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from mch_common.migrations import alembic_config, upgrade_async
from mch_testing.plugin import DatabaseFactory

BEFORE = ["atena:person:read", "atena:disclosure:export", "immunization:disclosure:export"]
ADDED = ["eapp:disclosure:export", "ims:disclosure:export"]
_SCOPES = text("SELECT client_id, scopes FROM service_clients ORDER BY client_id")


async def test_0012_grants_the_collector_the_new_sources_scopes(
    database_factory: DatabaseFactory, test_database_name: str, migrations_path: Path
) -> None:
    url = database_factory.owner_url(
        await database_factory.create(f"{test_database_name}_m0012", migrations_path)
    )
    config = alembic_config(migrations_path, url)
    await asyncio.to_thread(command.downgrade, config, "0011")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for client, scopes in (("boshi_core", BEFORE), ("atena", ["ims:code:write"])):
                await conn.execute(
                    text(
                        "INSERT INTO service_clients (client_id, name, secret_hash, scopes, "
                        "active) VALUES (:c, :c, 'x', :s, true)"
                    ),
                    {"c": client, "s": scopes},
                )
        await upgrade_async(migrations_path, url)
        async with engine.connect() as conn:
            upgraded = [tuple(r) for r in await conn.execute(_SCOPES)]
        await asyncio.to_thread(command.downgrade, config, "0011")
        await upgrade_async(migrations_path, url)  # again: granted once
        async with engine.connect() as conn:
            again = [tuple(r) for r in await conn.execute(_SCOPES)]
        await asyncio.to_thread(command.downgrade, config, "0011")
        async with engine.connect() as conn:
            downgraded = [tuple(r) for r in await conn.execute(_SCOPES)]
    finally:
        await engine.dispose()

    assert upgraded == [("atena", ["ims:code:write"]), ("boshi_core", BEFORE + ADDED)]
    assert again == upgraded
    assert downgraded == [("atena", ["ims:code:write"]), ("boshi_core", BEFORE)]
