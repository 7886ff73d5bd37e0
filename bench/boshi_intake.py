"""boshi_core intake throughput: pregnancy notifications and prenatal checkup results recorded
per second through the REST API (JWT verified, access log written, outbox event queued, relay
publishing to JetStream), against the same inserts done directly through asyncpg (the ceiling).

Creates and drops its own database and its own JetStream namespace. Prints one JSON line:
{"bench": "boshi_intake", "value": X, "unit": "writes/s", "target": 300, "ceiling": C, ...}
"""

import asyncio
import contextlib
import json
import os
import resource
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from _common import ceiling_pool
from _http import LeanClient, replica_count, run_pool, service_replicas, wait_ready

from boshi_core.migrate import MIGRATIONS
from boshi_core.testsupport import notification, snapshot
from mch_common.dates import today_tokyo
from mch_common.db import asyncpg_dsn, create_database, drop_database, with_database
from mch_common.events import EventBus
from mch_common.ids import uuid7
from mch_common.migrations import upgrade_async
from mch_testing.keys import TEST_AUDIENCE, TEST_ISSUER, TestKeySet, serve_jwks
from mch_testing.servers import LOCAL_NATS, LOCAL_POSTGRES

TARGET = 300
# As deployed (deploy/k8s): single-worker replicas behind a balancer (bench/_http.py's
# `replica_count`: one per core less the one PostgreSQL and the load generator need), the
# client's connections spread evenly over them. (uvicorn --workers shares one listening socket,
# and the kernel hands connections out unevenly: 10 and 22 of 32 were seen, which moved the
# figure between runs by a third.) The load generator (bench/_http.py) needs little CPU.
WORKERS = replica_count()
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
# Enough for every connection the measured callers will hold to be opened (and its statements
# prepared) before the clock starts, as the ceiling's pool is: 4 per replica opened 4 of the
# 32, and the measured run paid for starting the rest of the backends.
WARMUP = 2 * CONCURRENCY
MOTHERS = int(os.environ.get("BENCH_MOTHERS", "1200"))  # two writes each
SCOPES = ("boshi:pregnancy:read", "boshi:pregnancy:write")


async def seed_people(dsn: str, prefix: str, count: int) -> list[str]:
    """The read model as atena's events would have filled it."""
    numbers = [f"{prefix}{i:09d}" for i in range(count)]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany(
            "INSERT INTO people (person_no, version, residence_status, family_name, given_name,"
            " family_name_kana, given_name_kana, sex, birth_date, municipality_code, ward_code,"
            " address, last_event_type) VALUES ($1, 1, 'resident', '北九', '花子', 'キタキュウ',"
            " 'ハナコ', 'female', $2, '401005', '401064', $3, 'atena.person.registered')",
            [
                (n, date(1994, 5, 10), json.dumps(snapshot(n)["address"], ensure_ascii=False))
                for n in numbers
            ],
        )
    finally:
        await conn.close()
    return numbers


@contextlib.contextmanager
def boshi_servers(settings: dict[str, str], count: int) -> Iterator[list[str]]:
    """boshi_core replicas (see _http.service_replicas)."""
    with service_replicas("boshi_core.main:create_app", "BOSHI_", settings, count) as base_urls:
        yield base_urls


async def rest_run(base_urls: list[str], keys: TestKeySet, people: list[str]) -> float:
    token = keys.mint(sub="bench-staff", scopes=SCOPES, roles=("mch_staff",))
    today = today_tokyo().isoformat()
    for base_url in base_urls:
        await wait_ready(base_url)
    headers = {"Authorization": f"Bearer {token}"}
    clients = [LeanClient(base_url, headers) for base_url in base_urls]

    async def intake(i: int) -> None:
        person_no = people[i]
        client = clients[i % len(clients)]  # round robin, as a balancer would
        created = await client.post("/pregnancies", json=notification(person_no))
        if created.status != 201:
            raise RuntimeError(f"notification refused: {created.status} {created.text}")
        checkup = await client.post(
            f"/pregnancies/{created.json()['id']}/checkups",
            json={
                "checkup_date": today,
                "gestational_weeks": 10,
                "systolic_bp": 118,
                "diastolic_bp": 72,
                "urine_protein": "-",
                "urine_sugar": "-",
                "weight_kg": "55.0",
                "oedema": "-",
                "findings": "特記なし",
            },
        )
        if checkup.status != 201:
            raise RuntimeError(f"checkup refused: {checkup.status} {checkup.text}")

    try:
        # Warm-up: every replica fetches the JWKS and fills its pool.
        await run_pool(WARMUP, intake, concurrency=CONCURRENCY)
        elapsed = await run_pool(
            len(people) - WARMUP, lambda i: intake(i + WARMUP), concurrency=CONCURRENCY
        )
    finally:
        for client in clients:
            await client.close()
    return 2 * (len(people) - WARMUP) / elapsed


async def direct_run(dsn: str, people: list[str]) -> float:
    """The same rows (pregnancy or checkup, its access record, its outbox event) inserted
    straight through asyncpg, one transaction per write."""
    pool = await ceiling_pool(dsn, CONCURRENCY)
    assert pool is not None
    form = notification(None)["form"]
    edd = date.fromisoformat(form["expected_delivery_date"])

    async def audit_and_outbox(
        conn: asyncpg.Connection, person_no: str, action: str, subject: str, data: dict[str, Any]
    ) -> None:
        # A plain insert, as mch_common.audit does; the sealer chains it after commit.
        await conn.execute(
            "INSERT INTO audit_log (occurred_at, actor, terminal, action, target_type,"
            " target_id, purpose, outcome, detail, correlation_id)"
            " VALUES ($1, 'bench-staff', 'TERM', $2, 'person', $3, 'bench', 'success',"
            " '{}', NULL)",
            datetime.now(UTC),
            action,
            person_no,
        )
        event_id = uuid7()
        envelope = {
            "id": str(event_id),
            "type": subject,
            "source": "urn:mch:boshi_core",
            "tenant": "401005",
            "data": data,
        }
        await conn.execute(
            "INSERT INTO outbox (event_id, subject, envelope) VALUES ($1, $2, $3)",
            event_id,
            subject,
            json.dumps(envelope, ensure_ascii=False),
        )

    async def intake(i: int) -> None:
        person_no = people[i]
        pregnancy_id = uuid.uuid4()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO pregnancies (id, person_no, ward_code, channel, status, notified_on,"
                " name, name_kana, birth_date, age_at_notification, occupation, residence,"
                " nationality, weeks_at_notification, expected_delivery_date, expected_children,"
                " diagnosed_by, std_tested, tb_tested, notifier_name, application_date,"
                " collection_ward_code, id_document_type, id_checked_by, id_checked_at,"
                " created_by) VALUES ($1, $2, '401064', 'window', 'open', $3, $4, $5, $6, 32,"
                " $7, $8, $9, 9, $10, 1, $11, true, false, $12, $3, '401064', 'my_number_card',"
                " 'bench', now(), 'bench')",
                pregnancy_id,
                person_no,
                today_tokyo(),
                form["name"],
                form["name_kana"],
                date(1994, 5, 10),
                form["occupation"],
                form["residence"],
                form["nationality"],
                edd,
                form["diagnosed_by"],
                form["notifier_name"],
            )
            await audit_and_outbox(
                conn,
                person_no,
                "pregnancy.open",
                "boshi.pregnancy.opened",
                {"pregnancy_id": str(pregnancy_id)},
            )
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO prenatal_checkups (id, pregnancy_id, checkup_date, gestational_weeks,"
                " systolic_bp, diastolic_bp, urine_protein, urine_sugar, weight_kg, oedema,"
                " findings, risk_flags, risk_rules_version, recorded_by) VALUES ($1, $2, $3, 10,"
                " 118, 72, '-', '-', 55.0, '-', '特記なし', '[]', 1, 'bench')",
                uuid.uuid4(),
                pregnancy_id,
                today_tokyo(),
            )
            await audit_and_outbox(
                conn,
                person_no,
                "prenatal_checkup.record",
                "boshi.prenatal_checkup.recorded",
                {"pregnancy_id": str(pregnancy_id)},
            )

    try:
        elapsed = await run_pool(len(people), intake, concurrency=CONCURRENCY)
    finally:
        await pool.close()
    return 2 * len(people) / elapsed


async def main() -> None:
    server = os.environ.get("DATABASE_URL") or LOCAL_POSTGRES
    nats_url = os.environ.get("NATS_URL") or LOCAL_NATS
    name = f"bench_boshi_{os.getpid()}"
    namespace = f"bench{os.getpid()}"
    await create_database(server, name)
    url = with_database(server, name)
    admin = await asyncpg.connect(asyncpg_dsn(url))  # for CHECKPOINT
    keys = TestKeySet()
    try:
        await upgrade_async(MIGRATIONS, url)
        rest_people = await seed_people(asyncpg_dsn(url), "7", MOTHERS)
        direct_people = await seed_people(asyncpg_dsn(url), "8", MOTHERS)
        # Earlier work's dirty pages (other benches share the server) are written now, not in
        # the middle of the measurement.
        await admin.execute("CHECKPOINT")
        with serve_jwks(keys) as jwks_url:
            settings = {
                "environment": "test",
                "database_url": url,
                "nats_url": nats_url,
                "event_namespace": namespace,
                "jwks_url": jwks_url,
                "jwt_issuer": TEST_ISSUER,
                "jwt_audience": TEST_AUDIENCE,
                "db_pool_size": str(CONCURRENCY // WORKERS + 2),
                "log_level": "WARNING",
            }
            with boshi_servers(settings, WORKERS) as base_urls:
                value = await rest_run(base_urls, keys, rest_people)
        await admin.execute("CHECKPOINT")
        ceiling = await direct_run(asyncpg_dsn(url), direct_people)
    finally:
        await admin.close()
        await drop_database(server, name)
        bus = await EventBus.connect(nats_url, namespace=namespace, name="bench")
        await bus.delete_namespace()
        await bus.close()
    # The larger of this process and the biggest boshi_core worker.
    peak_rss_mb = (
        max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        / 1024
    )
    print(
        json.dumps(
            {
                "bench": "boshi_intake",
                "value": round(value, 1),
                "unit": "writes/s",
                "target": TARGET,
                "ceiling": round(ceiling, 1),
                "ratio": round(value / ceiling, 3),
                "peak_rss_mb": round(peak_rss_mb, 1),
                "replicas": WORKERS,
            }
        )
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
