"""An initial load drops the secondary indexes and constraints of the tables it fills and
builds them again at the end.

The rebuild is a set of jobs run on every connection at once, each started only when the
jobs it follows are done and no running job holds a lock that would make it wait: a
connection waiting on a lock leaves its core idle. Two rewrites keep the locks small:
- a unique constraint is built as a unique index (SHARE: alongside the table's other index
  builds) and then attached to its constraint (`USING INDEX`, instant); built by `ADD
  CONSTRAINT` it held the table exclusively for the whole sort;
- a foreign key is added `NOT VALID` (instant) and then validated, which locks the
  referenced table only in ROW SHARE: the three keys that point at `person` are checked at
  once instead of one after the other. The end state is the same validated constraint.
A deferred row is deleted in the transaction of its last step, and every earlier step can be
run again, so an interrupted rebuild is finished by the next load.
"""

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

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
_INDEX = re.compile(r"CREATE (?:UNIQUE )?INDEX \S+ ON (?:\S+\.)?(\S+) ")
_CONSTRAINT = re.compile(r"ALTER TABLE (\S+) ADD CONSTRAINT (\S+) (.*)", re.DOTALL)
_UNIQUE = re.compile(r"UNIQUE \(([^()]*)\)")
_REFERENCES = re.compile(r"FOREIGN KEY \(.*\) REFERENCES (?:\S+\.)?(\w+)\(")
_CONSTRAINT_EXISTS = (
    "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = $1 AND conrelid = $2::regclass)"
)

# PostgreSQL's table lock modes the jobs take, and which of them conflict.
SHARE, SHARE_UPDATE_EXCLUSIVE, ROW_SHARE, SHARE_ROW_EXCLUSIVE, ACCESS_EXCLUSIVE = (
    "SHARE",
    "SHARE UPDATE EXCLUSIVE",
    "ROW SHARE",
    "SHARE ROW EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)
_CONFLICTS = {
    ROW_SHARE: {ACCESS_EXCLUSIVE},
    SHARE_UPDATE_EXCLUSIVE: {SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE, ACCESS_EXCLUSIVE},
    SHARE: {SHARE_UPDATE_EXCLUSIVE, SHARE_ROW_EXCLUSIVE, ACCESS_EXCLUSIVE},
    SHARE_ROW_EXCLUSIVE: {SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE, ACCESS_EXCLUSIVE},
    ACCESS_EXCLUSIVE: {
        SHARE_UPDATE_EXCLUSIVE,
        SHARE,
        SHARE_ROW_EXCLUSIVE,
        ROW_SHARE,
        ACCESS_EXCLUSIVE,
    },
}


@dataclass
class Job:
    """One transaction of the rebuild. `done_with`: the deferred row its commit settles."""

    key: str
    statements: list[str]
    locks: dict[str, str]
    after: set[str] = field(default_factory=set)
    done_with: str | None = None
    unless_constraint: tuple[str, str] | None = None  # (name, table): already done if it exists
    merge_join: bool = False


async def drop_secondary_indexes(conn: asyncpg.Connection) -> None:
    """Drop them, remembered in bulk_deferred_index so an interrupted load rebuilds them."""
    async with conn.transaction():
        for name, drop, create in await conn.fetch(_SECONDARY_DDL, REBUILT_TABLES):
            await conn.execute(
                "INSERT INTO bulk_deferred_index (name, ddl) VALUES ($1, $2)", name, create
            )
            await conn.execute(drop)


def plan_rebuild(deferred: Sequence[tuple[str, str]]) -> list[Job]:
    """The jobs that build the deferred `(name, ddl)` rows, then ANALYZE, in the order they
    are preferred: index builds first (the table every key points at first, and the unique
    indexes, which their constraints wait for), then the keys, then the statistics."""
    builds: list[Job] = []
    finishing: list[Job] = []
    for name, ddl in deferred:
        if index := _INDEX.match(ddl):
            table = index[1]
            builds.append(Job(f"build {name}", [ddl], {table: SHARE}, done_with=name))
            continue
        constraint = _CONSTRAINT.fullmatch(ddl)
        unique = constraint and _UNIQUE.fullmatch(constraint[3])
        references = constraint and _REFERENCES.match(constraint[3])
        if constraint and unique:
            table = constraint[1]
            builds.append(
                Job(
                    f"build {name}",
                    [f"CREATE UNIQUE INDEX IF NOT EXISTS {name} ON {table} ({unique[1]})"],
                    {table: SHARE},
                )
            )
            finishing.append(
                Job(
                    f"attach {name}",
                    [f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE USING INDEX {name}"],
                    {table: ACCESS_EXCLUSIVE},
                    after={f"build {name}"},
                    done_with=name,
                )
            )
        elif constraint and references:
            table, referenced = constraint[1], references[1]
            finishing.append(
                Job(
                    f"add {name}",
                    [f"{ddl} NOT VALID"],
                    {table: SHARE_ROW_EXCLUSIVE, referenced: SHARE_ROW_EXCLUSIVE},
                    unless_constraint=(name, table),
                )
            )
            finishing.append(
                Job(
                    f"validate {name}",
                    [f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}"],
                    {table: SHARE_UPDATE_EXCLUSIVE, referenced: ROW_SHARE},
                    after={f"add {name}"},
                    done_with=name,
                    merge_join=True,
                )
            )
        else:  # any other constraint: as it was dropped, holding its table meanwhile
            table = constraint[1] if constraint else ""
            finishing.append(Job(f"add {name}", [ddl], {table: ACCESS_EXCLUSIVE}, done_with=name))
    for job in finishing:  # a table's keys follow its index builds and its referenced table's
        job.after |= {b.key for b in builds if b.locks.keys() & job.locks.keys()}
    statistics = [
        Job(
            f"analyze {table}",
            [f"ANALYZE {table}"],
            {table: SHARE_UPDATE_EXCLUSIVE},
            after={b.key for b in builds if table in b.locks},
        )
        for table in REBUILT_TABLES
    ]
    # person's builds first, a unique one first of each table's: the keys wait for them.
    builds.sort(key=lambda b: (_table_order(next(iter(b.locks))), not b.key.startswith("build uq")))
    return builds + finishing + statistics


def _table_order(table: str) -> int:
    return REBUILT_TABLES.index(table) if table in REBUILT_TABLES else len(REBUILT_TABLES)


async def restore_indexes(connections: Sequence[asyncpg.Connection]) -> None:
    """Build the deferred indexes and constraints, then fresh statistics, on every connection
    at once (see the module's docstring)."""
    deferred = await connections[0].fetch("SELECT name, ddl FROM bulk_deferred_index")
    waiting = plan_rebuild([(row["name"], row["ddl"]) for row in deferred])
    running: list[Job] = []
    done: set[str] = set()
    failed = False
    changed = asyncio.Condition()

    def ready(job: Job) -> bool:
        return job.after <= done and not any(
            held in _CONFLICTS[mode]
            for other in running
            for table, mode in job.locks.items()
            if (held := other.locks.get(table)) is not None
        )

    def next_job() -> Job | None:
        """The first job that can start now; None when there is nothing left to start."""
        if failed or not waiting:
            return None
        job = next((job for job in waiting if ready(job)), None)
        if job is None and not running:
            raise RuntimeError(f"the rebuild cannot go on: {[job.key for job in waiting]}")
        return job

    def may_go_on() -> bool:
        return failed or not waiting or next_job() is not None

    async def run(conn: asyncpg.Connection, job: Job) -> None:
        if job.unless_constraint is not None and await conn.fetchval(
            _CONSTRAINT_EXISTS, *job.unless_constraint
        ):
            return  # added by an interrupted rebuild
        # BEGIN and COMMIT sent as statements: a chunk's `conn.transaction()` cancelled in its
        # rollback (another chunk failed) leaves asyncpg believing it is still open, and a new
        # one would start as a SAVEPOINT outside any transaction.
        await conn.execute("BEGIN")
        try:
            if job.merge_join:
                # The check merges the two indexes built before, where a hash join would
                # read and hash both whole tables (a third slower).
                await conn.execute("SET LOCAL enable_hashjoin = off")
            for statement in job.statements:
                await conn.execute(statement)
            if job.done_with is not None:
                await conn.execute("DELETE FROM bulk_deferred_index WHERE name = $1", job.done_with)
        except BaseException:
            if not conn.is_closed():
                await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")

    async def work(conn: asyncpg.Connection) -> None:
        nonlocal failed
        if conn.is_in_transaction():
            # Left open by a chunk's write that was cancelled mid-statement when another
            # failed: each job must commit on its own, or this connection would keep the
            # locks of its DDL until the end and the others would wait for it forever.
            await conn.execute("ROLLBACK")
        await conn.execute("SET maintenance_work_mem = '128MB'")
        while True:
            async with changed:
                await changed.wait_for(may_go_on)
                if (job := next_job()) is None:
                    break
                waiting.remove(job)
                running.append(job)
            try:
                await run(conn, job)
            except BaseException:
                failed = True  # the others finish what they run and start nothing more
                raise
            finally:
                async with changed:
                    running.remove(job)
                    done.add(job.key)
                    changed.notify_all()
        await conn.execute("RESET maintenance_work_mem")

    # After a failure some connection may be gone; the others (at least one) carry on.
    live = [conn for conn in connections if not conn.is_closed()] or [connections[0]]
    await asyncio.gather(*(work(conn) for conn in live))
