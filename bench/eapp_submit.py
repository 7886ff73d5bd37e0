"""e_application intake: signed pregnancy notifications verified and stored per second through
the REST API (signature, chain, validity, CRL, the procedure's form rules, the four facts; the
package sealed, the My Number encrypted, the access record and the outbox event written), with
the signature and chain verification alone (parse + verify, no HTTP, no database) measured in
the same run, on as many processes as the API has replicas, as the ceiling.

Creates and drops its own database, JetStream namespace and simulated JPKI. Prints one line:
{"bench": "eapp_submit", "value": X, "unit": "submissions/s", "target": 200, "ceiling": C, ...}
"""

import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _http import LeanClient, run_pool, service_replicas, wait_ready

import e_application
from e_application.jpki.applicant import Card
from e_application.jpki.authority import Authority
from e_application.jpki.demo import pregnancy_form
from e_application.jpki.profile import HolderFacts
from e_application.procedures.definitions import PREGNANCY
from e_application.signing.package import parse_package
from e_application.signing.trust import TrustStore
from mch_common.db import create_database, drop_database, with_database
from mch_common.events import EventBus
from mch_common.migrations import upgrade_async
from mch_common.mynumber import generate_my_number
from mch_testing.keys import TEST_AUDIENCE, TEST_ISSUER, TestKeySet, serve_jwks
from mch_testing.servers import LOCAL_NATS, LOCAL_POSTGRES

TARGET = 200
WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 1)))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
SUBMISSIONS = int(os.environ.get("BENCH_SUBMISSIONS", "2000"))
CARDS = 50  # applicants; each signs many notifications (signing is the applicant's side)
WARMUP = 4 * WORKERS
MIGRATIONS = Path(e_application.__file__).parent / "migrations"


def make_packages(folder: Path, count: int) -> list[bytes]:
    jpki = Authority.create(folder / "jpki", name="JPKI", organization="J-LIS (simulated)")
    (folder / "trust.json").write_text(
        json.dumps([jpki.trust_entry("signing"), jpki.trust_entry("auth")])
    )
    cards = [
        Card.issue(
            jpki,
            HolderFacts(
                name=f"北九 花子{i}",
                sex="female",
                birth_date=datetime(1994, 5, 10, tzinfo=UTC).date() - timedelta(days=i),
                address=f"福岡県北九州市小倉北区浅野1-{i}",
            ),
        )
        for i in range(CARDS)
    ]
    packages = []
    for i in range(count):
        card = cards[i % CARDS]
        form = pregnancy_form(card.facts, ward_code="401064", kana="キタキュウ ハナコ")
        packages.append(
            card.sign_application(
                procedure=PREGNANCY,
                procedure_version=1,
                form=form,
                my_number=generate_my_number(),
            )
        )
    return packages


_TRUST: TrustStore | None = None


def _init_verifier(trust_file: str) -> None:
    global _TRUST
    _TRUST = TrustStore.from_config(trust_file)


def _verify(raw: bytes) -> bool:
    assert _TRUST is not None
    now = datetime.now(UTC)
    return _TRUST.verify_package(parse_package(raw), received_at=now, max_age=timedelta(days=7)).ok


def verification_ceiling(trust_file: Path, packages: list[bytes]) -> float:
    """Parse and verify every package on WORKERS processes: what the CPUs allow at best."""
    with multiprocessing.get_context("spawn").Pool(
        WORKERS, initializer=_init_verifier, initargs=(str(trust_file),)
    ) as pool:
        pool.map(_verify, packages[: 4 * WORKERS])  # warm-up: imports, CRL read
        started = time.perf_counter()
        results = pool.map(_verify, packages, chunksize=64)
        elapsed = time.perf_counter() - started
    if not all(results):
        raise RuntimeError("a package did not verify")
    return len(packages) / elapsed


@contextlib.contextmanager
def eapp_servers(settings: dict[str, str], count: int) -> Iterator[list[str]]:
    """e_application replicas (see _http.service_replicas)."""
    with service_replicas("e_application.main:create_app", "EAPP_", settings, count) as base_urls:
        yield base_urls


async def rest_run(base_urls: list[str], packages: list[bytes]) -> float:
    for base_url in base_urls:
        await wait_ready(base_url)
    clients = [LeanClient(base_url) for base_url in base_urls]
    bodies = [json.loads(p) for p in packages]
    done = 0

    async def submit(i: int) -> None:
        nonlocal done
        answer = await clients[i % len(clients)].post("/applications", json=bodies[i])
        if answer.status != 201:
            raise RuntimeError(f"submission refused: {answer.status} {answer.text[:300]}")
        done += 1
        if done % 500 == 0:
            sys.stderr.write(f"eapp_submit: {done} submitted\n")

    try:
        await asyncio.gather(*(submit(i) for i in range(WARMUP)))
        elapsed = await run_pool(
            len(bodies) - WARMUP, lambda i: submit(i + WARMUP), concurrency=CONCURRENCY
        )
    finally:
        for client in clients:
            await client.close()
    return (len(bodies) - WARMUP) / elapsed


async def main() -> None:
    server = os.environ.get("DATABASE_URL") or LOCAL_POSTGRES
    nats_url = os.environ.get("NATS_URL") or LOCAL_NATS
    name = f"bench_eapp_{os.getpid()}"
    namespace = f"bench{os.getpid()}"
    await create_database(server, name)
    url = with_database(server, name)
    keys = TestKeySet()
    try:
        await upgrade_async(MIGRATIONS, url)
        with tempfile.TemporaryDirectory() as folder:
            sys.stderr.write(f"eapp_submit: signing {SUBMISSIONS} packages\n")
            packages = make_packages(Path(folder), SUBMISSIONS)
            trust_file = Path(folder) / "trust.json"
            with serve_jwks(keys) as jwks_url:
                settings = {
                    "environment": "test",
                    "database_url": url,
                    "nats_url": nats_url,
                    "event_namespace": namespace,
                    "jwks_url": jwks_url,
                    "jwt_issuer": TEST_ISSUER,
                    "jwt_audience": TEST_AUDIENCE,
                    "trusted_cas": str(trust_file),
                    "notice_interval_seconds": "0",
                    "db_pool_size": str(CONCURRENCY // WORKERS + 2),
                    "log_level": "WARNING",
                }
                with eapp_servers(settings, WORKERS) as base_urls:
                    value = await rest_run(base_urls, packages)
            ceiling = verification_ceiling(trust_file, packages)
    finally:
        await drop_database(server, name)
        bus = await EventBus.connect(nats_url, namespace=namespace, name="bench")
        await bus.delete_namespace()
        await bus.close()
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
                "bench": "eapp_submit",
                "value": round(value, 1),
                "unit": "submissions/s",
                "target": TARGET,
                "ceiling": round(ceiling, 1),
                "ratio": round(value / ceiling, 3),
                "peak_rss_mb": round(peak_rss_mb, 1),
                "replicas": WORKERS,
                "ceiling_is": "parse + signature, chain, validity and CRL verification alone",
            }
        )
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
