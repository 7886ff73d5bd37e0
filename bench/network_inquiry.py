"""intermediate_server: inquiry round trips between two tenants through the whole path.

Kitakyushu (401005) asks Fukuoka City (401307) for a child's checkup information (item 95):
the requester's 符号, the hub's permission check, permit (Ed25519) and 符号 translation, the
provider's permit checks (signature, expiry, binding, single use), its own list, the replica,
and the provision records on both sides, each side's transaction under row-level security.
The service runs as deployed (uvicorn, one single-worker replica per core; BENCH_WORKERS
overrides), as the runtime role, driven by bench/_http.py.

The ceiling is the same path's database work alone, in the same run: the service's statements
per inquiry through asyncpg as the runtime role, transaction by transaction as the service
makes them (the requester's: its tenant, its one read, the inquiry and its record; the hub's
one statement; the provider's: its tenant, its one statement, its record), no HTTP, no JWT, no
signature, no ORM. The 符号 and indexes it needs are computed before the clock starts.

    .venv/bin/python bench/network_inquiry.py [--people 2000] [--inquiries 3000]

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg
from _http import LeanClient, service_replicas, wait_ready

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
WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 1)))
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


async def run_pool(count: int, work: Any) -> tuple[float, list[float]]:
    """work(i) for i < count by CONCURRENCY workers: elapsed seconds and each latency (ms)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    latencies: list[float] = []

    async def worker() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            began = time.perf_counter()
            await work(i)
            latencies.append((time.perf_counter() - began) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started, latencies


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


async def rest_run(
    base_urls: list[str], keys: TestKeySet, people: list[str], count: int
) -> tuple[float, list[float]]:
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
        await run_pool(4 * len(clients), inquire)  # warm-up: JWKS, pools
        return await run_pool(count, inquire)
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
    " person.person_no, r.item_no, r.record_key, r.as_of, r.no_auto_response, r.data"
    " FROM list LEFT JOIN person ON true LEFT JOIN replica_entry AS r"
    " ON r.person_no = person.person_no AND r.item_no = ANY($5::text[])"
    " ORDER BY r.item_no, r.as_of"
)
RECORD = (
    "INSERT INTO audit_log (occurred_at, actor, terminal, action, target_type, target_id,"
    " purpose, outcome, detail, correlation_id, persons) VALUES ($1, $2, NULL, $3,"
    " 'inquiry', $4, $5, 'success', $6, NULL, $7)"
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
    dsn: str, people: list[str], codes: dict[str, tuple[str, bytes]], count: int
) -> tuple[float, list[float]]:
    """The path's statements through asyncpg, transaction by transaction as the service makes
    them: the requester's (held open), the hub's and the provider's on other connections."""
    pool = await asyncpg.create_pool(dsn, min_size=2 * CONCURRENCY, max_size=2 * CONCURRENCY)
    assert pool is not None

    async def inquire(i: int) -> None:
        person_no = people[i % len(people)]
        requester_code, provider_index = codes[person_no]
        now = datetime.now(UTC)
        jti = uuid.uuid4()
        async with pool.acquire() as requester, requester.transaction():
            await requester.execute("SELECT set_config('app.tenant', $1, true)", KITAKYUSHU)
            await requester.fetchrow(REQUEST_READ, FUKUOKA, person_no)
            async with pool.acquire() as conn:  # the hub: one statement, committed alone
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
            async with pool.acquire() as conn, conn.transaction():  # the provider
                await conn.execute("SELECT set_config('app.tenant', $1, true)", FUKUOKA)
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
            await requester.execute(  # the requester's answer
                "INSERT INTO inquiry (id, tenant, person_no, provider, clause, items, status,"
                " asked_by, asked_at, answered_at, answer) VALUES ($1, $2, $3, $4, $5, $6,"
                " 'answered', 'bench', $7, $7, '{}')",
                jti,
                KITAKYUSHU,
                person_no,
                FUKUOKA,
                CLAUSE,
                ["95"],
                now,
            )
            await requester.execute(
                RECORD,
                now,
                "bench-staff",
                "provision.inquiry",
                str(jti),
                CLAUSE,
                json.dumps({"tenant": KITAKYUSHU}),
                [f"{KITAKYUSHU}:{person_no}"],
            )

    try:
        await run_pool(4 * WORKERS, inquire)
        return await run_pool(count, inquire)
    finally:
        await pool.close()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--inquiries", type=int, default=3000)
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
                # provider's transactions take another.
                "db_pool_size": str(2 * (CONCURRENCY // WORKERS) + 2),
                "log_level": "WARNING",
            }
            with ims_servers(settings, WORKERS) as base_urls:
                for url in base_urls:
                    await wait_ready(url)
                say(f"seeding {args.people} children in both cities")
                people = await seed(base_urls[0], keys, args.people)
                await admin.execute("CHECKPOINT")
                say(f"{args.inquiries} inquiries through {WORKERS} replicas, {CONCURRENCY} at once")
                elapsed, latencies = await rest_run(base_urls, keys, people, args.inquiries)
        await admin.execute("CHECKPOINT")
        say("the same database work alone (ceiling)")
        ceiling_elapsed, ceiling_latencies = await direct_run(
            asyncpg_dsn(runtime_url),
            people,
            await codes_of(asyncpg_dsn(runtime_url)),
            args.inquiries,
        )
        await admin.close()
    finally:
        await drop_database(server, name)
        await drop_runtime_role(server, name)
        bus = await EventBus.connect(nats_url, namespace=namespace, name="bench")
        await bus.delete_namespace()
        await bus.close()
    rate, ceiling = args.inquiries / elapsed, args.inquiries / ceiling_elapsed
    peak = (
        max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        / 1024
    )
    common = {"peak_rss_mb": round(peak, 1), "replicas": WORKERS, "concurrency": CONCURRENCY}
    print(
        json.dumps(
            {
                "bench": "network_inquiry",
                "value": round(rate, 1),
                "unit": "inquiries/s",
                "target": TARGET_PER_S,
                "ceiling": round(ceiling, 1),
                "ratio": round(rate / ceiling, 3),
                **common,
            }
        )
    )
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        value, roof = p(latencies, q), p(ceiling_latencies, q)
        print(
            json.dumps(
                {
                    "bench": f"network_inquiry_{label}",
                    "value": round(value, 1),
                    "unit": "ms",
                    "target": TARGET_P99_MS if label == "p99" else None,
                    "ceiling": round(roof, 1),
                    "ratio": round(value / roof, 3),
                    **common,
                }
            )
        )
    say(f"median {statistics.median(latencies):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
