"""intermediate_server: inquiry round trips between two tenants through the whole path.

Kitakyushu (401005) asks Fukuoka City (401307) for a child's checkup information (item 95):
the requester's 符号, the hub's permission check, permit (Ed25519) and 符号 translation, the
provider's permit checks (signature, expiry, binding, single use), its own list, the replica,
and the provision records on both sides, each side's transaction under row-level security.
The service runs as deployed (uvicorn, single-worker replicas, one per core less the one
PostgreSQL and the load generator need: bench/_http.py's `replica_count`; BENCH_WORKERS
overrides), as the runtime role, driven by bench/_http.py.

The ceiling is the same path's database work alone, in the same run: the service's statements
per inquiry through asyncpg as the runtime role, transaction by transaction as the service
makes them (the requester's: BEGIN with its tenant, its one read, the inquiry with its record
in one statement, COMMIT; the hub's one statement; the provider's: BEGIN with its tenant, its
one statement, its record, COMMIT), the hub's and the provider's on a second pool as in the
service, no HTTP, no JWT, no signature, no ORM. The 符号 and indexes it needs are computed
before the clock starts.

Two loops, each for the service and for the ceiling:
- closed: CONCURRENCY callers, each sending its next inquiry when the last is answered. Its
  rate is the capacity figure (inquiries/s); its latencies are Little's law's (16 callers at
  200/s wait 80 ms on average), so they are reported as `network_inquiry_closed_p50/p99`.
  CPU per inquiry of each kind of process is measured over it.
- open: inquiries arriving at `--rate` (200/s) for `--seconds`, whatever is in flight: the
  p50/p99 the target means (`network_inquiry_p50/p99`), counted from when each was due, with
  the rate achieved and the failures (past capacity, requests queue and time out).

The bench's own garbage collector is paused during both loops (`_common.collector_paused`):
its full passes would stop the load generator and be counted as the service's latency.

    .venv/bin/python bench/network_inquiry.py [--people 2000] [--inquiries 3000]
        [--rate 200] [--seconds 10]

Target: 200 inquiries/s with p99 under 100 ms. It creates and drops its own database.
"""

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg
from _common import ceiling_pool, collector_paused
from _cpu import cpu_seconds
from _http import LeanClient, replica_count, run_pool, service_replicas, wait_ready

import intermediate_server
from intermediate_server.codes.cipher import CodeCipher
from intermediate_server.config import Settings
from mch_common.db import asyncpg_dsn, create_database, drop_database, with_database
from mch_common.db_roles import drop_runtime_role, ensure_runtime_role
from mch_common.events import EventBus
from mch_common.migrations import upgrade_async
from mch_common.mynumber import generate_my_number
from mch_testing.keys import TEST_AUDIENCE, TEST_ISSUER, TestKeySet, serve_jwks
from mch_testing.servers import LOCAL_NATS, LOCAL_POSTGRES

MIGRATIONS = Path(intermediate_server.__file__).parent / "migrations"
TARGET_PER_S, TARGET_P99_MS = 200, 100
KITAKYUSHU, FUKUOKA = "401005", "401307"
CLAUSE = "主務省令第2条の表95の項"
WORKERS = replica_count()
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))


def say(message: str) -> None:
    sys.stderr.write(f"network_inquiry: {message}\n")
    sys.stderr.flush()


@contextlib.contextmanager
def ims_servers(settings: dict[str, str], count: int) -> Iterator[list[str]]:
    """intermediate_server replicas (see _http.service_replicas)."""
    with service_replicas(
        "intermediate_server.main:create_app", "IMS_", settings, count
    ) as base_urls:
        yield base_urls


async def open_loop(rate: float, count: int, work: Any) -> tuple[float, list[float], int]:
    """work(i) started when it is due, i / rate seconds in, whatever is still in flight (callers
    arrive at a fixed rate, as at a counter): the rate achieved, each answered call's latency
    (ms) counted from the moment it was due (a client that fell behind does not hide a queue),
    and how many calls failed (past the service's capacity, requests time out)."""
    latencies: list[float] = []
    failures = 0
    started = time.perf_counter()

    async def one(due: float, i: int) -> None:
        nonlocal failures
        try:
            await work(i)
        except Exception:  # noqa: BLE001 - counted and reported: the run goes on
            failures += 1
            return
        latencies.append((time.perf_counter() - due) * 1000)

    tasks = []
    for i in range(count):
        due = started + i / rate
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due, i)))
    await asyncio.gather(*tasks)
    return count / (time.perf_counter() - started), latencies, failures


def replica_pids() -> list[int]:
    """This process's service replicas (children running mch_common.serve)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if ppid == os.getpid() and b"mch_common.serve" in cmdline:
            pids.append(int(entry.name))
    return pids


class CpuMeter:
    """CPU time spent per inquiry by each kind of process over a run: the service replicas,
    the PostgreSQL backends serving the bench's database (PostgreSQL runs on this machine)
    and this load generator."""

    def __init__(self, admin: Any, database: str) -> None:
        self._admin, self._database = admin, database

    async def _sample(self) -> dict[str, dict[int, float]]:
        backends = await self._admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            self._database,
        )
        return {
            "replicas": {pid: cpu_seconds(pid) for pid in replica_pids()},
            "database": {r["pid"]: cpu_seconds(r["pid"]) for r in backends},
            "bench": {0: time.process_time()},
        }

    async def start(self) -> None:
        self._before = await self._sample()

    async def per_inquiry_ms(self, inquiries: int) -> dict[str, float]:
        after = await self._sample()
        return {
            kind: round(
                sum(t - self._before[kind].get(pid, 0.0) for pid, t in now.items())
                / inquiries
                * 1000,
                3,
            )
            for kind, now in after.items()
        }


def p(latencies: list[float], q: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def seed(base_url: str, keys: TestKeySet, people: int) -> list[str]:
    """Both cities' 符号 for `people` children (as atena obtains them) and Fukuoka's 4-month
    checkup of each in its replica; answers Kitakyushu's person numbers."""
    kitakyushu = [f"4010{i:05d}1" for i in range(people)]
    fukuoka = [f"4013{i:05d}1" for i in range(people)]
    numbers = [generate_my_number() for _ in range(people)]
    async with LeanClient(base_url) as client:
        for tenant, persons in ((KITAKYUSHU, kitakyushu), (FUKUOKA, fukuoka)):
            token = keys.mint(
                sub="svc:atena", scopes=("ims:code:write",), tenant=tenant, terminal=None
            )
            for start in range(0, people, 500):
                body = {
                    "people": [
                        {"person_no": n, "my_number": m}
                        for n, m in zip(
                            persons[start : start + 500], numbers[start : start + 500], strict=True
                        )
                    ]
                }
                answer = await client.post(
                    "/codes", json=body, headers={"Authorization": f"Bearer {token}"}
                )
                if answer.status != 200:
                    raise RuntimeError(f"codes refused: {answer.status} {answer.text}")
        writer = keys.mint(
            sub="svc:boshi_core", scopes=("ims:replica:write",), tenant=FUKUOKA, terminal=None
        )
        for n in fukuoka:
            answer = await client.request(
                "PUT",
                f"/replica/persons/{n}/checkups",
                json_body={
                    "record_key": "4m",
                    "as_of": "2026-11-01T00:00:00+00:00",
                    "data": {
                        "checkup_kind": "infant_4m",
                        "taken": True,
                        "taken_on": "2026-09-01",
                        "judgement": "no_abnormality",
                    },
                },
                headers={"Authorization": f"Bearer {writer}"},
            )
            if answer.status != 200:
                raise RuntimeError(f"replica refused: {answer.status} {answer.text}")
    return kitakyushu


@dataclass
class Run:
    """One path's figures: the closed loop's (capacity) and the open loop's (latency)."""

    closed_elapsed: float = 0.0
    closed_latencies: list[float] = field(default_factory=list)
    cpu_ms: dict[str, float] = field(default_factory=dict)
    open_rate: float = 0.0
    open_latencies: list[float] = field(default_factory=list)
    open_failures: int = 0


async def measure(work: Any, args: argparse.Namespace, meter: CpuMeter, warm_up: int) -> Run:
    """The closed loop (CONCURRENCY callers, CPU per inquiry measured over it), then the open
    loop at `args.rate`."""
    run = Run()
    await run_pool(warm_up, work, concurrency=CONCURRENCY)  # JWKS, pools, prepared statements
    with collector_paused():
        await meter.start()
        run.closed_elapsed = await run_pool(
            args.inquiries, work, concurrency=CONCURRENCY, latencies=run.closed_latencies
        )
        run.cpu_ms = await meter.per_inquiry_ms(args.inquiries)
    offset = args.inquiries + warm_up
    count = int(args.rate * args.seconds)
    with collector_paused():
        run.open_rate, run.open_latencies, run.open_failures = await open_loop(
            args.rate, count, lambda i: work(offset + i)
        )
    return run


async def rest_run(
    base_urls: list[str],
    keys: TestKeySet,
    people: list[str],
    args: argparse.Namespace,
    meter: CpuMeter,
) -> Run:
    token = keys.mint(
        sub="bench-staff", scopes=("ims:inquire",), tenant=KITAKYUSHU, roles=("mch_staff",)
    )
    clients = [LeanClient(u, {"Authorization": f"Bearer {token}"}) for u in base_urls]

    async def inquire(i: int) -> None:
        answer = await clients[i % len(clients)].post(
            "/inquiries",
            json={
                "person_no": people[i % len(people)],
                "provider": FUKUOKA,
                "clause": CLAUSE,
                "items": ["95"],
            },
        )
        if answer.status != 201 or answer.json()["answer"]["95"]["status"] != "provided":
            raise RuntimeError(f"inquiry failed: {answer.status} {answer.text}")

    try:
        return await measure(inquire, args, meter, warm_up=4 * len(clients))
    finally:
        for client in clients:
            await client.close()


# The service's statements (exchange/repository.py, national_hub/hub.py), as asyncpg runs them.
REQUEST_READ = (
    "SELECT EXISTS (SELECT 1 FROM tenant WHERE code = $1) AS provider_known,"
    " (SELECT code_ciphertext FROM person_code WHERE person_no = $2) AS sealed_code"
)
HUB_ROUTE = (
    "WITH code AS (SELECT person_id FROM hub.issued_code WHERE code = $1 AND institution = $2),"
    " stamp AS (SELECT max(list_version) AS list_version, count(*) AS list_rows"
    " FROM hub.permission_rule),"
    " decision AS (SELECT code.person_id, stamp.list_version, stamp.list_rows,"
    " (stamp.list_version IS NOT DISTINCT FROM $3::integer AND stamp.list_rows = $4::bigint)"
    " AS current FROM stamp LEFT JOIN code ON true),"
    " logged AS (INSERT INTO hub.issued_permit (jti, requester, provider, clause, items,"
    " issued_at, expires_at, refused_reason) SELECT $5, $2, $6, $7, $8::text[], $9,"
    " CASE WHEN person_id IS NULL THEN NULL ELSE $10::timestamptz END,"
    " CASE WHEN person_id IS NULL THEN 'no code' END FROM decision WHERE current RETURNING jti)"
    " SELECT person_id, list_version, list_rows, current FROM decision"
)
PROVIDER_READ = (
    "WITH used AS (INSERT INTO used_permit (jti, tenant, used_at, expires_at)"
    " VALUES ($1, $2, $3, $3) ON CONFLICT (jti) DO NOTHING RETURNING jti),"
    " person AS (SELECT person_no FROM person_code WHERE code_index = $4 LIMIT 1),"
    " list AS (SELECT max(list_version) AS list_version, count(*) AS list_rows"
    " FROM permission_copy)"
    " SELECT (SELECT count(*) FROM used) AS fresh, list.list_version, list.list_rows,"
    " person.person_no, coalesce((SELECT s.suspended FROM provision_suspension AS s"
    " WHERE s.person_no = person.person_no), false) AS suspended,"
    " r.item_no, r.record_key, r.as_of, r.no_auto_response, r.data"
    " FROM list LEFT JOIN person ON true LEFT JOIN replica_entry AS r"
    " ON r.person_no = person.person_no AND r.item_no = ANY($5::text[])"
    " ORDER BY r.item_no, r.as_of"
)
PROVIDER_BEGIN = f"BEGIN; SELECT set_config('app.tenant', '{FUKUOKA}', true)"
REQUESTER_BEGIN = f"BEGIN; SELECT set_config('app.tenant', '{KITAKYUSHU}', true)"
RECORD = (
    "INSERT INTO audit_log (occurred_at, actor, terminal, action, target_type, target_id,"
    " purpose, outcome, detail, correlation_id, persons) VALUES ($1, $2, NULL, $3,"
    " 'inquiry', $4, $5, 'success', $6, NULL, $7)"
)
# The requester's answer: the inquiry's row and its record in one statement, as the service's
# unit of work writes them.
ANSWER = (
    "WITH inquiry_row AS (INSERT INTO inquiry (id, tenant, person_no, provider, clause, items,"
    " status, asked_by, asked_at, answered_at, answer) VALUES ($8, $9, $10, $11, $5, $12,"
    " 'answered', 'bench', $1, $1, '{}')) " + RECORD
)


async def codes_of(dsn: str) -> dict[str, tuple[str, bytes]]:
    """For the ceiling (not timed): each Kitakyushu person's 符号 as the gateway decrypts it,
    and the index under which Fukuoka's gateway finds the same person, as the service
    computes them (the servers run with the default keys, as this process does)."""
    key_id, key, index_key = Settings().code_keys
    cipher = CodeCipher(key_id=key_id, key=key, index_key=index_key)
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant', $1, true)", KITAKYUSHU)
            sealed = await conn.fetch("SELECT person_no, code_ciphertext FROM person_code")
        issued = await conn.fetch(
            "SELECT k.code, f.code FROM hub.issued_code k JOIN hub.issued_code f"
            " ON f.person_id = k.person_id AND f.institution = $2 WHERE k.institution = $1",
            KITAKYUSHU,
            FUKUOKA,
        )
    finally:
        await conn.close()
    provider_code_of = {r[0]: r[1] for r in issued}
    codes: dict[str, tuple[str, bytes]] = {}
    for row in sealed:
        code = cipher.decrypt(row["code_ciphertext"], tenant=KITAKYUSHU, person_no=row[0])
        codes[row[0]] = (code, cipher.index(provider_code_of[code], tenant=FUKUOKA))
    return codes


async def direct_run(
    dsn: str,
    people: list[str],
    codes: dict[str, tuple[str, bytes]],
    args: argparse.Namespace,
    meter: CpuMeter,
) -> Run:
    """The path's statements through asyncpg, transaction by transaction as the service makes
    them: the requester's (held open), the hub's and the provider's on connections of another
    pool (as the service's network pool: on one pool, requesters holding every connection
    would wait for each other)."""
    pool = await ceiling_pool(dsn, CONCURRENCY, max_size=2 * CONCURRENCY)
    network = await ceiling_pool(dsn, CONCURRENCY, max_size=2 * CONCURRENCY)
    assert pool is not None
    assert network is not None

    async def inquire(i: int) -> None:
        person_no = people[i % len(people)]
        requester_code, provider_index = codes[person_no]
        now = datetime.now(UTC)
        jti = uuid.uuid4()
        async with pool.acquire() as requester:  # BEGIN and tenant at once, as the service
            await requester.execute(REQUESTER_BEGIN)
            try:
                await answer(requester, person_no, requester_code, provider_index, now, jti)
            except BaseException:
                await requester.execute("ROLLBACK")
                raise
            await requester.execute("COMMIT")

    async def answer(
        requester: asyncpg.Connection,
        person_no: str,
        requester_code: str,
        provider_index: bytes,
        now: datetime,
        jti: uuid.UUID,
    ) -> None:
        await requester.fetchrow(REQUEST_READ, FUKUOKA, person_no)
        async with network.acquire() as conn:  # the hub: one statement, alone
            await conn.fetchrow(
                HUB_ROUTE,
                requester_code,
                KITAKYUSHU,
                1,
                2,
                jti,
                FUKUOKA,
                CLAUSE,
                ["95"],
                now,
                now,
            )
        async with network.acquire() as conn:  # the provider: BEGIN and tenant at once
            await conn.execute(PROVIDER_BEGIN)
            await conn.fetch(PROVIDER_READ, jti, FUKUOKA, now, provider_index, ["95"])
            await conn.execute(
                RECORD,
                now,
                f"municipality:{KITAKYUSHU}",
                "provision.provide",
                str(jti),
                CLAUSE,
                json.dumps({"tenant": FUKUOKA}),
                [f"{FUKUOKA}:4013{person_no[4:]}"],
            )
            await conn.execute("COMMIT")
        await requester.execute(  # the requester's answer: its row and its record
            ANSWER,
            now,
            "bench-staff",
            "provision.inquiry",
            str(jti),
            CLAUSE,
            json.dumps({"tenant": KITAKYUSHU}),
            [f"{KITAKYUSHU}:{person_no}"],
            jti,
            KITAKYUSHU,
            person_no,
            FUKUOKA,
            ["95"],
        )

    try:
        return await measure(inquire, args, meter, warm_up=4 * WORKERS)
    finally:
        await pool.close()
        await network.close()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--inquiries", type=int, default=3000, help="closed loop's count")
    parser.add_argument("--rate", type=float, default=TARGET_PER_S, help="open loop's rate")
    parser.add_argument("--seconds", type=float, default=10, help="open loop's length")
    args = parser.parse_args()
    server = (
        os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or LOCAL_POSTGRES
    )
    nats_url = os.environ.get("NATS_URL") or LOCAL_NATS
    name = f"bench_ims_{os.getpid()}"
    namespace = f"bench{os.getpid()}"
    await create_database(server, name)
    owner_url = with_database(server, name)
    keys = TestKeySet()
    try:
        await upgrade_async(MIGRATIONS, owner_url)
        runtime_url = await ensure_runtime_role(owner_url)
        admin = await asyncpg.connect(asyncpg_dsn(owner_url))
        meter = CpuMeter(admin, name)
        await admin.execute(
            "INSERT INTO tenant (code, name) VALUES ('401005', '北九州市'), ('401307', '福岡市')"
        )
        with serve_jwks(keys) as jwks_url:
            settings = {
                "environment": "test",
                "database_url": runtime_url,
                "nats_url": nats_url,
                "event_namespace": namespace,
                "jwks_url": jwks_url,
                "jwt_issuer": TEST_ISSUER,
                "jwt_audience": TEST_AUDIENCE,
                # An inquiry holds the requester's connection while the hub's and the
                # provider's transactions take one of the network pool.
                "db_pool_size": str(CONCURRENCY // WORKERS + 2),
                "network_pool_size": str(CONCURRENCY // WORKERS + 2),
                "log_level": "WARNING",
            }
            with ims_servers(settings, WORKERS) as base_urls:
                for url in base_urls:
                    await wait_ready(url, within=120)  # a loaded machine starts slowly
                say(f"seeding {args.people} children in both cities")
                people = await seed(base_urls[0], keys, args.people)
                await admin.execute("CHECKPOINT")
                say(
                    f"{args.inquiries} inquiries through {WORKERS} replicas, {CONCURRENCY} at"
                    f" once; then {args.rate:g}/s for {args.seconds:g} s"
                )
                service = await rest_run(base_urls, keys, people, args, meter)
        await admin.execute("CHECKPOINT")
        say("the same database work alone (ceiling)")
        ceiling = await direct_run(
            asyncpg_dsn(runtime_url), people, await codes_of(asyncpg_dsn(runtime_url)), args, meter
        )
        await admin.close()
    finally:
        await drop_database(server, name)
        await drop_runtime_role(server, name)
        bus = await EventBus.connect(nats_url, namespace=namespace, name="bench")
        await bus.delete_namespace()
        await bus.close()
    report(args, service, ceiling)
    return 0


def report(args: argparse.Namespace, service: Run, ceiling: Run) -> None:
    rate = args.inquiries / service.closed_elapsed
    roof = args.inquiries / ceiling.closed_elapsed
    peak = (
        max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        / 1024
    )
    common = {"peak_rss_mb": round(peak, 1), "replicas": WORKERS}
    closed = {**common, "loop": "closed", "concurrency": CONCURRENCY}
    opened = {**common, "loop": "open", "rate": args.rate}
    lines: list[dict[str, Any]] = [
        {
            "bench": "network_inquiry",
            "value": round(rate, 1),
            "unit": "inquiries/s",
            "target": TARGET_PER_S,
            "ceiling": round(roof, 1),
            "ratio": round(rate / roof, 3),
            "cpu_ms_per_inquiry": service.cpu_ms,
            "ceiling_cpu_ms_per_inquiry": ceiling.cpu_ms,
            **closed,
        }
    ]
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        value, top = p(service.closed_latencies, q), p(ceiling.closed_latencies, q)
        lines.append(
            {
                "bench": f"network_inquiry_closed_{label}",
                "value": round(value, 1),
                "unit": "ms",
                "ceiling": round(top, 1),
                "ratio": round(value / top, 3),
                **closed,
            }
        )
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        value, top = p(service.open_latencies, q), p(ceiling.open_latencies, q)
        lines.append(
            {
                "bench": f"network_inquiry_{label}",
                "value": round(value, 1),
                "unit": "ms",
                "target": TARGET_P99_MS if label == "p99" else None,
                "ceiling": round(top, 1),
                "ratio": round(value / top, 3),
                **opened,
                "achieved_rate": round(service.open_rate, 1),
                "ceiling_achieved_rate": round(ceiling.open_rate, 1),
                "failures": service.open_failures,
                "ceiling_failures": ceiling.open_failures,
            }
        )
    for line in lines:
        print(json.dumps(line))
    say(
        f"closed loop median {statistics.median(service.closed_latencies):.1f} ms;"
        f" open loop at {args.rate:g}/s median {statistics.median(service.open_latencies):.1f} ms"
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
