"""Migration 0002 on a database that 0001 made before the child register's table was renamed
(`children`, as boshi_core's births table is also named): it becomes `child_register`, its
index and primary key renamed with it, and the data kept."""

import asyncio
from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from mch_common.migrations import alembic_config, upgrade_async
from mch_testing.plugin import DatabaseFactory

AS_0001_MADE_IT = [
    "ALTER TABLE child_register RENAME TO children",
    "ALTER INDEX ix_child_register_ward_code RENAME TO ix_children_ward_code",
    "ALTER TABLE children RENAME CONSTRAINT pk_child_register TO pk_children",
    "INSERT INTO children (person_no, version, residence_status, family_name, given_name,"
    " birth_date, last_event_type) VALUES ('1000000008', 1, 'resident', '山田', '花子',"
    " '2026-01-31', 'atena.person.born')",
]


async def test_0002_renames_an_old_databases_children_table(
    database_factory: DatabaseFactory, test_database_name: str, migrations_path: Path
) -> None:
    url = database_factory.owner_url(
        await database_factory.create(f"{test_database_name}_rename", migrations_path)
    )
    await asyncio.to_thread(command.downgrade, alembic_config(migrations_path, url), "0001")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in AS_0001_MADE_IT:
                await conn.execute(text(statement))
        await upgrade_async(migrations_path, url)
        async with engine.connect() as conn:
            tables = set(
                (
                    await conn.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    )
                ).scalars()
            )
            names = set(
                (
                    await conn.execute(
                        text(
                            "SELECT relname FROM pg_class WHERE relname LIKE '%child_register%'"
                            " OR relname LIKE '%children%'"
                        )
                    )
                ).scalars()
            )
            kept = (await conn.execute(text("SELECT given_name FROM child_register"))).scalar_one()
    finally:
        await engine.dispose()

    assert {"child_register", "register_changes", "register_file_runs"} <= tables
    assert "children" not in tables
    assert names == {"child_register", "pk_child_register", "ix_child_register_ward_code"}
    assert kept == "花子"
