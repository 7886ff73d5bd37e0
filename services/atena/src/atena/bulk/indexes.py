"""An initial load drops the secondary indexes and constraints of the tables it fills and
builds them again at the end."""

import asyncio
from collections.abc import Sequence

import asyncpg

# Tables whose secondary indexes an initial load drops and rebuilds (CREATE INDEX over a full
# table is far cheaper than maintaining it row by row; an empty registry has no readers).
REBUILT_TABLES = ["person", "person_version", "person_change", "person_my_number"]
_SECONDARY_DDL = """
SELECT i.relname, 'DROP INDEX ' || quote_ident(i.relname), pg_get_indexdef(i.oid)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
WHERE c.relname = ANY($1::text[]) AND NOT x.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.oid)
UNION ALL
SELECT k.conname, format('ALTER TABLE %I DROP CONSTRAINT %I', c.relname, k.conname),
       format('ALTER TABLE %I ADD CONSTRAINT %I %s', c.relname, k.conname,
              pg_get_constraintdef(k.oid))
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
WHERE c.relname = ANY($1::text[]) AND k.contype IN ('u', 'f')
"""


async def drop_secondary_indexes(conn: asyncpg.Connection) -> None:
    """Drop them, remembered in bulk_deferred_index so an interrupted load rebuilds them."""
    async with conn.transaction():
        for name, drop, create in await conn.fetch(_SECONDARY_DDL, REBUILT_TABLES):
            await conn.execute(
                "INSERT INTO bulk_deferred_index (name, ddl) VALUES ($1, $2)", name, create
            )
            await conn.execute(drop)


async def restore_indexes(connections: Sequence[asyncpg.Connection]) -> None:
    """Build the deferred indexes and constraints, on every connection at once; foreign
    keys after (their check reads the indexes built before), then fresh statistics."""
    pending: list[tuple[str | None, str]] = sorted(
        (
            (row["name"], row["ddl"])
            for row in await connections[0].fetch("SELECT name, ddl FROM bulk_deferred_index")
        ),
        key=lambda item: " FOREIGN KEY " in item[1],
    )
    pending += [(None, f"ANALYZE {table}") for table in REBUILT_TABLES]

    async def build(conn: asyncpg.Connection) -> None:
        if conn.is_in_transaction():
            # Left open by a chunk's write that was cancelled mid-statement when another
            # failed: each build must commit on its own, or this connection would keep the
            # locks of its DDL until the end and the others would wait for it forever.
            await conn.execute("ROLLBACK")
        await conn.execute("SET maintenance_work_mem = '128MB'")
        while pending:
            name, ddl = pending.pop(0)
            async with conn.transaction():
                if " FOREIGN KEY " in ddl:
                    # The check merges the two indexes built just before, where a hash
                    # join would read and hash both whole tables (a third slower).
                    await conn.execute("SET LOCAL enable_hashjoin = off")
                await conn.execute(ddl)
                if name is not None:
                    await conn.execute("DELETE FROM bulk_deferred_index WHERE name = $1", name)
        await conn.execute("RESET maintenance_work_mem")

    # After a failure some connection may be gone; the others (at least one) carry on.
    live = [conn for conn in connections if not conn.is_closed()] or [connections[0]]
    await asyncio.gather(*(build(conn) for conn in live))
