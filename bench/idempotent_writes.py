"""What a safe retry costs: boshi_core pregnancy notifications per second through REST with an
`Idempotency-Key` on each (mch_common.idempotency: body buffered and fingerprinted, an advisory
lock and a look-up, the key's record written in the same transaction), against the same
notifications without the header on the same replicas in the same run (the ceiling); and the
replays of those keyed requests (the stored answers sent again, each with its access record).

Creates and drops its own database and JetStream namespace (as bench/boshi_intake.py, whose
helpers it uses). Prints one JSON line per figure.
"""

import asyncio
import os
import sys
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
from _common import result_line
from _http import LeanClient, run_pool, wait_ready
from boshi_intake import CONCURRENCY, WARMUP, WORKERS, boshi_servers, seed_people

from boshi_core.migrate import MIGRATIONS
from boshi_core.testsupport import notification
from mch_common.db import asyncpg_dsn, create_database, drop_database, with_database
from mch_common.events import EventBus
from mch_common.migrations import upgrade_async
from mch_testing.keys import TEST_AUDIENCE, TEST_ISSUER, TestKeySet, serve_jwks
from mch_testing.servers import LOCAL_NATS, LOCAL_POSTGRES

TARGET = 300  # writes/s, boshi_intake's target
MOTHERS = int(os.environ.get("BENCH_MOTHERS", "800"))  # per run
SCOPES = ("boshi:pregnancy:read", "boshi:pregnancy:write")


async def measure(
    clients: list[LeanClient], people: list[str], keys: list[str] | None, expect: int
) -> float:
    """Notifications per second for `people` (one each), with `keys` as Idempotency-Keys."""

    async def notify(i: int) -> None:
        headers = {"Idempotency-Key": keys[i]} if keys is not None else None
        answer = await clients[i % len(clients)].post(
            "/pregnancies", json=notification(people[i]), headers=headers
        )
        if answer.status != expect:
            raise RuntimeError(f"notification answered {answer.status}: {answer.text}")

    elapsed = await run_pool(len(people), notify, concurrency=CONCURRENCY)
    return len(people) / elapsed


async def main() -> None:
    server = os.environ.get("DATABASE_URL") or LOCAL_POSTGRES
    nats_url = os.environ.get("NATS_URL") or LOCAL_NATS
    name = f"bench_idempotency_{os.getpid()}"
    namespace = f"benchidem{os.getpid()}"
    await create_database(server, name)
    url = with_database(server, name)
    admin = await asyncpg.connect(asyncpg_dsn(url))
    signing = TestKeySet()
    try:
        await upgrade_async(MIGRATIONS, url)
        warm = await seed_people(asyncpg_dsn(url), "5", WARMUP)
        plain = await seed_people(asyncpg_dsn(url), "6", MOTHERS)
        keyed = await seed_people(asyncpg_dsn(url), "7", MOTHERS)
        await admin.execute("CHECKPOINT")
        with serve_jwks(signing) as jwks_url:
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
                for base_url in base_urls:
                    await wait_ready(base_url)
                token = signing.mint(sub="bench-staff", scopes=SCOPES, roles=("mch_staff",))
                clients = [LeanClient(u, {"Authorization": f"Bearer {token}"}) for u in base_urls]
                retry_keys = [str(uuid.uuid4()) for _ in keyed]
                runs: list[tuple[str, Callable[[], Awaitable[float]]]] = [
                    ("warm-up", lambda: measure(clients, warm, None, 201)),
                    ("without key", lambda: measure(clients, plain, None, 201)),
                    ("with key", lambda: measure(clients, keyed, retry_keys, 201)),
                    ("replayed", lambda: measure(clients, keyed, retry_keys, 201)),
                ]
                figures = {}
                try:
                    for label, run in runs:
                        figures[label] = await run()
                        print(f"{label}: {figures[label]:.1f} notifications/s", flush=True)
                finally:
                    for client in clients:
                        await client.close()
    finally:
        await admin.close()
        await drop_database(server, name)
        bus = await EventBus.connect(nats_url, namespace=namespace, name="bench")
        await bus.delete_namespace()
        await bus.close()
    ceiling = figures["without key"]
    extra = {"replicas": WORKERS, "requests": MOTHERS}
    print(
        result_line(
            "idempotent_writes",
            figures["with key"],
            "writes/s",
            target=TARGET,
            ceiling=ceiling,
            **extra,
        )
    )
    print(
        result_line(
            "idempotent_replays",
            figures["replayed"],
            "answers/s",
            target=TARGET,
            ceiling=ceiling,
            **extra,
        )
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
