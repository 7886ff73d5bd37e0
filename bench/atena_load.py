"""atena benchmark: bulk load of a resident-registry extract, then My Number lookups and person
reads under concurrency.

    .venv/bin/python bench/atena_load.py [--rows 1000000] [--rate 200] [--seconds 10]

1. Generates a synthetic extract (UTF-8 CSV, pools of names, no Faker per row) and loads it
   with the production loader (COPY into staging, INSERT ... SELECT), events included.
   Figure: load seconds (generation excluded), peak RSS of this process (the loader).
2. Starts the real service (uvicorn on 127.0.0.1, a separate process) with JWTs from a local
   JWKS, and drives it over keep-alive HTTP/1.1 (bench/_http.py) at a fixed rate (half
   lookups by My Number, half person reads, each with its access-log record). Then the same
   queries through raw asyncpg at the same rate: the ceiling.

It creates and drops its own database (and its NATS stream namespace). PostgreSQL and NATS
come from BENCH_DATABASE_URL (server URL) / NATS_URL, default 127.0.0.1.
"""

import argparse
import asyncio
import csv
import gc
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
from _common import ceiling_pool, peak_rss_mb
from _cpu import children, cpu_seconds, total_cpu_seconds
from _http import LeanClient, replica_count, wait_ready

from atena.bulk.loader import Loader
from atena.bulk.parse import HEADER
from atena.config import Settings
from mch_common.dates import today_tokyo
from mch_common.db import asyncpg_dsn, create_database, drop_database, with_database
from mch_common.lgcode import KITAKYUSHU_WARDS
from mch_common.migrations import upgrade
from mch_common.mynumber import my_number_check_digit

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "services/atena/src/atena/migrations"

FAMILY = [
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("斎藤", "サイトウ"),
    ("清水", "シミズ"),
    ("山崎", "ヤマザキ"),
    ("森", "モリ"),
    ("池田", "イケダ"),
    ("橋本", "ハシモト"),
    ("阿部", "アベ"),
    ("石川", "イシカワ"),
    ("山下", "ヤマシタ"),
    ("中島", "ナカシマ"),
    ("石井", "イシイ"),
    ("小川", "オガワ"),
    ("前田", "マエダ"),
    ("岡田", "オカダ"),
    ("長谷川", "ハセガワ"),
    ("藤田", "フジタ"),
    ("後藤", "ゴトウ"),
    ("近藤", "コンドウ"),
    ("髙橋", "タカハシ"),
    ("渡邉", "ワタナベ"),
    ("齋藤", "サイトウ"),
    ("濱田", "ハマダ"),
]
GIVEN_F = [
    ("陽葵", "ヒマリ"),
    ("凛", "リン"),
    ("結菜", "ユイナ"),
    ("葵", "アオイ"),
    ("花子", "ハナコ"),
    ("美咲", "ミサキ"),
    ("さくら", "サクラ"),
    ("陽子", "ヨウコ"),
    ("恵子", "ケイコ"),
    ("由美", "ユミ"),
    ("真由美", "マユミ"),
    ("愛", "アイ"),
    ("彩", "アヤ"),
    ("舞", "マイ"),
]
GIVEN_M = [
    ("蓮", "レン"),
    ("湊", "ミナト"),
    ("陽翔", "ハルト"),
    ("大翔", "ヒロト"),
    ("太郎", "タロウ"),
    ("翔太", "ショウタ"),
    ("健", "ケン"),
    ("誠", "マコト"),
    ("浩", "ヒロシ"),
    ("大輔", "ダイスケ"),
    ("拓也", "タクヤ"),
    ("直樹", "ナオキ"),
    ("悠真", "ユウマ"),
    ("樹", "イツキ"),
]
TOWNS = {
    "401013": ["門司区栄町", "門司区東本町"],
    "401021": ["若松区本町", "若松区小石本村町"],
    "401030": ["戸畑区新池", "戸畑区中本町"],
    "401064": ["小倉北区浅野", "小倉北区京町"],
    "401072": ["小倉南区北方", "小倉南区守恒"],
    "401081": ["八幡東区中央", "八幡東区西本町"],
    "401099": ["八幡西区黒崎", "八幡西区折尾"],
}
WARDS = list(KITAKYUSHU_WARDS)


def generate_csv(path: Path, rows: int, seed: int = 7) -> list[str]:
    """Households of 1-4 (a head, maybe a spouse, children). Returns a sample of My Numbers."""
    rng = random.Random(seed)
    sample: list[str] = []
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        i = 0
        household = 0
        while i < rows:
            household += 1
            ward = rng.choice(WARDS)
            town = rng.choice(TOWNS[ward])
            block = f"{rng.randrange(1, 9)}-{rng.randrange(1, 30)}-{rng.randrange(1, 20)}"
            family, family_kana = rng.choice(FAMILY)
            size = min(rows - i, rng.choice((1, 1, 2, 2, 3, 4)))
            for member in range(size):
                female = rng.random() < 0.5 if member != 1 else True
                given, given_kana = rng.choice(GIVEN_F if female else GIVEN_M)
                if member < 2:
                    birth = date(
                        rng.randrange(1950, 2004), rng.randrange(1, 13), rng.randrange(1, 29)
                    )
                    relationship = "head" if member == 0 else "spouse"
                else:
                    birth = date(
                        rng.randrange(2015, 2026), rng.randrange(1, 13), rng.randrange(1, 29)
                    )
                    relationship = "child"
                # Unique by construction: one base per row, spaced 97 apart.
                base = str(10_000_000_000 + i * 97 + rng.randrange(97))
                my_number = base + str(my_number_check_digit(base))
                if i % max(1, rows // 2000) == 0:
                    sample.append(my_number)
                writer.writerow(
                    (
                        f"J{i:09d}",
                        "",
                        "resident",
                        family,
                        given,
                        family_kana,
                        given_kana,
                        "female" if female else "male",
                        birth.isoformat(),
                        "",
                        "8020001",
                        "福岡県",
                        "401005",
                        ward,
                        town,
                        block,
                        "",
                        f"H{household:09d}",
                        relationship,
                        f"093-{rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}",
                        "",
                        my_number,
                        max(birth, date(2024, 4, 1)).isoformat(),
                    )
                )
                i += 1
    return sample


async def percentile_run(
    call: Callable[[int], Awaitable[None]], *, rate: float, seconds: float
) -> tuple[list[float], float]:
    """Open loop at a fixed rate: latency of each call in ms, and the achieved rate."""
    latencies: list[float] = []
    tasks: list[asyncio.Task[None]] = []
    interval = 1.0 / rate
    total = int(rate * seconds)
    started = time.perf_counter()

    async def one(n: int) -> None:
        t0 = time.perf_counter()
        await call(n)
        latencies.append((time.perf_counter() - t0) * 1000)

    for n in range(total):
        target = started + n * interval
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    return latencies, total / (time.perf_counter() - started)


def _load_cpu(backends: list[int]) -> dict[str, float]:
    return {
        "wall": time.perf_counter(),
        "loader": time.process_time(),
        "parser": sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2]),
        "postgres": total_cpu_seconds(backends),
    }


async def _service_cpu(
    server_pid: int, db_name: str, server_url: str
) -> dict[str, dict[int, float]]:
    """CPU seconds so far of the server's workers and of the database's other backends."""
    conn = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        backends = await conn.fetch(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = $1 AND backend_type = 'client backend'",
            db_name,
        )
    finally:
        await conn.close()
    return {
        # With one worker uvicorn serves in the process it started as, with more in children.
        "service": {pid: cpu_seconds(pid) for pid in [server_pid, *children(server_pid)]},
        "postgres": {row["pid"]: cpu_seconds(row["pid"]) for row in backends},
    }


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


async def wait_for_relay(dsn: str) -> tuple[float, int]:
    """Wait until the outbox is published; prints progress; returns (seconds, events)."""
    conn = await asyncpg.connect(dsn)
    started = time.perf_counter()
    # Every event of the load (the relay may have published some before the first look); a
    # batch row stands for its registrations.
    count_events = (
        "SELECT coalesce(sum(coalesce((envelope->'outbox_batch'->>'count')::int, 1)), 0)"
        " FROM outbox"
    )
    total = await conn.fetchval(count_events)
    while True:
        pending = await conn.fetchval(count_events + " WHERE published_at IS NULL")
        elapsed = time.perf_counter() - started
        done = total - pending
        rate = done / elapsed if elapsed > 0 else 0.0
        print(f"  relay: {done}/{total} events published, {rate:,.0f}/s", flush=True)
        if pending == 0:
            break
        await asyncio.sleep(5)
    await conn.close()
    return time.perf_counter() - started, total


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--no-events", action="store_true")
    parser.add_argument("--port", type=int, default=18101)
    parser.add_argument(
        "--workers",
        type=int,
        default=replica_count(),
        help="uvicorn worker processes (default: one per core less one, see _http.replica_count)",
    )
    parser.add_argument("--connections", type=int, default=2, help="loader connections")
    parser.add_argument("--load-only", action="store_true", help="skip the lookup measurement")
    parser.add_argument("--keep-db", action="store_true", help="leave the database for probing")
    args = parser.parse_args()

    server_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    nats_url = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
    db_name = f"atena_bench_{os.getpid()}"
    database_url = with_database(server_url, db_name)
    namespace = f"bench{os.getpid()}"
    await create_database(server_url, db_name)
    server: subprocess.Popen[bytes] | None = None
    try:
        await asyncio.to_thread(upgrade, MIGRATIONS, database_url)
        settings = Settings(database_url=database_url, environment="test")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "extract.csv"
            t0 = time.perf_counter()
            sample = generate_csv(path, args.rows)
            generated = time.perf_counter() - t0
            print(
                f"# generated {args.rows} rows ({path.stat().st_size / 1e6:.0f} MB) in "
                f"{generated:.1f} s",
                file=sys.stderr,
            )
            conns = [
                await asyncpg.connect(asyncpg_dsn(database_url)) for _ in range(args.connections)
            ]
            loader = Loader(
                conns,
                tenant=settings.tenant,
                vault=settings.vault,
                actor="bench",
                today=today_tokyo(),
                emit_events=not args.no_events,
            )

            # CPU per resident, by who spends it: this process (the loader), the parsing
            # process (a child, counted once joined) and the connections' PostgreSQL backends.
            backends = [conn.get_server_pid() for conn in conns]
            cpu_before = _load_cpu(backends)
            chunks_end = cpu_before

            def progress(report: Any) -> None:
                nonlocal chunks_end
                chunks_end = _load_cpu(backends)
                if report.lines % 200_000 < 20_000:
                    print(f"# {report.lines} lines, {report.seconds:.1f} s", file=sys.stderr)

            report = await loader.load(str(path), progress=progress)
            cpu_after = _load_cpu(backends)
            cpu = {k: cpu_after[k] - cpu_before[k] for k in cpu_before}
            rebuild = {k: cpu_after[k] - chunks_end[k] for k in cpu_before}
            await conns[0].execute("ANALYZE")
            for conn in conns:
                await conn.close()
        assert report.inserted == args.rows, report.summary()
        print(
            json.dumps(
                {
                    "bench": "atena_load",
                    "value": round(report.seconds, 2),
                    "unit": "s",
                    "target": 60,
                    "peak_rss_mb": peak_rss_mb(),
                    "rows": args.rows,
                    "rows_per_s": round(args.rows / report.seconds),
                    "events": not args.no_events,
                    "connections": args.connections,
                }
            )
        )
        per_row = 1e6 / args.rows
        print(
            json.dumps(
                {
                    "bench": "atena_load_cpu",
                    "value": round((cpu["loader"] + cpu["parser"] + cpu["postgres"]) * per_row, 1),
                    "unit": "us CPU/resident",
                    "loader_us": round(cpu["loader"] * per_row, 1),
                    "parser_us": round(cpu["parser"] * per_row, 1),
                    "postgres_us": round(cpu["postgres"] * per_row, 1),
                    "index_rebuild_s": round(rebuild["wall"], 2),
                    "index_rebuild_postgres_us": round(rebuild["postgres"] * per_row, 1),
                    "load_average": os.getloadavg()[0],
                }
            )
        )
        sys.stdout.flush()
        if args.load_only:
            return

        # Autovacuum catching up on a million fresh rows would measure the box, not atena. The
        # load's events are published by the service's relay once it starts (timed below).
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        await conn.execute("VACUUM (ANALYZE)")
        # Flush the load's dirty pages now, not in the middle of the latency measurement.
        await conn.execute("CHECKPOINT")
        person_nos = [
            r[0]
            for r in await conn.fetch(
                "SELECT person_no FROM person TABLESAMPLE SYSTEM (1) LIMIT 2000"
            )
        ]
        await conn.close()

        from mch_testing.keys import TEST_AUDIENCE, TEST_ISSUER, TestKeySet, serve_jwks

        keys = TestKeySet()
        with serve_jwks(keys):
            env = {
                **os.environ,
                "ATENA_DATABASE_URL": database_url,
                "ATENA_NATS_URL": nats_url,
                "ATENA_EVENT_NAMESPACE": namespace,
                "ATENA_JWKS_URL": keys.jwks_url,
                "ATENA_JWT_ISSUER": TEST_ISSUER,
                "ATENA_JWT_AUDIENCE": TEST_AUDIENCE,
                "ATENA_ENVIRONMENT": "test",
                "ATENA_LOG_LEVEL": "WARNING",
                "ATENA_DB_POOL_SIZE": "20",
            }
            server = subprocess.Popen(  # noqa: ASYNC220 - started once, then polled over HTTP
                [
                    sys.executable,
                    "-m",
                    "mch_common.serve",
                    "--factory",
                    "atena.main:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(args.port),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                    "--timeout-keep-alive",
                    "60",
                    "--workers",
                    str(args.workers),
                ],
                env=env,
            )
            url = f"http://127.0.0.1:{args.port}"
            await wait_ready(url)
            # The service's relay first publishes the load's events; lookups are measured on a
            # settled service, and the drain is reported as its own figure.
            relay_seconds, relayed = await wait_for_relay(asyncpg_dsn(database_url))
            settle = await asyncpg.connect(asyncpg_dsn(database_url))
            await settle.execute("VACUUM (ANALYZE) outbox")
            await settle.execute("CHECKPOINT")
            await settle.close()
            # JetStream's file store holds the million events just published as dirty pages,
            # which the kernel writes back in bursts of ~200 MB every 5 s for the next minute;
            # each burst stalls the access log's commits (p99 50-80 ms measured). Write them
            # now: the figure is the service's, not the flusher's.
            await asyncio.to_thread(os.sync)
            token = keys.mint(
                sub="bench", scopes=("atena:person:read", "atena:mynumber:lookup"), terminal="BENCH"
            )
            headers = {"Authorization": f"Bearer {token}", "X-Access-Purpose": "benchmark"}
            async with LeanClient(url, headers) as client:
                failures = 0

                async def http_call(n: int) -> None:
                    nonlocal failures
                    try:
                        if n % 2:
                            r = await client.post(
                                "/persons/lookup-by-my-number",
                                json={"my_number": sample[n % len(sample)]},
                            )
                        else:
                            r = await client.get(f"/persons/{person_nos[n % len(person_nos)]}")
                    except OSError as exc:
                        failures += 1
                        if failures <= 3:
                            print(f"# request failed: {type(exc).__name__}", file=sys.stderr)
                        return
                    if r.status != 200:
                        failures += 1
                        if failures <= 3:
                            print(f"# status {r.status}: {r.text[:200]}", file=sys.stderr)

                await percentile_run(http_call, rate=args.rate, seconds=5)  # warm up
                print(f"# warm-up done, {failures} failures; measuring", file=sys.stderr)
                # The load generator is not what is measured: keep its collector's pauses (the
                # load left a large heap) out of the latencies.
                gc.collect()
                gc.freeze()
                # CPU per request: atena's workers, and the PostgreSQL backends serving them.
                before = await _service_cpu(server.pid, db_name, server_url)
                http_lat, http_rate = await percentile_run(
                    http_call, rate=args.rate, seconds=args.seconds
                )
                after = await _service_cpu(server.pid, db_name, server_url)
                requests = len(http_lat)
                service_us, postgres_us = (
                    sum(cpu - before[side].get(pid, 0.0) for pid, cpu in after[side].items())
                    * 1e6
                    / requests
                    for side in ("service", "postgres")
                )

                # Throughput: closed loop, 32 callers, 5 s.
                done = 0
                stop_at = time.perf_counter() + 5

                async def closed_loop(worker: int) -> None:
                    nonlocal done
                    n = worker
                    while time.perf_counter() < stop_at:
                        await http_call(n)
                        n += 32
                        done += 1

                await asyncio.gather(*(closed_loop(w) for w in range(32)))
                throughput = done / 5

            pool = await ceiling_pool(asyncpg_dsn(database_url), 20)
            assert pool is not None
            vault = settings.vault

            async def raw_call(n: int) -> None:
                async with pool.acquire() as c:
                    if n % 2:
                        blind = vault.blind_index(sample[n % len(sample)])
                        no = await c.fetchval(
                            "SELECT person_no FROM person_my_number WHERE blind_index = $1", blind
                        )
                    else:
                        no = person_nos[n % len(person_nos)]
                    await c.fetchval(
                        "SELECT atena_snapshot(p) FROM person p WHERE person_no = $1", no
                    )

            await percentile_run(raw_call, rate=args.rate, seconds=2)
            raw_lat, _ = await percentile_run(raw_call, rate=args.rate, seconds=args.seconds)
            await pool.close()

        value, ceiling = p99(http_lat), p99(raw_lat)
        print(
            json.dumps(
                {
                    "bench": "atena_lookup_p99",
                    "value": round(value, 2),
                    "unit": "ms",
                    "target": 50,
                    "ceiling": round(ceiling, 2),
                    "ratio": round(value / ceiling, 2),
                    "peak_rss_mb": peak_rss_mb(),
                    "rate": round(http_rate, 1),
                    "p50_ms": round(statistics.median(http_lat), 2),
                    "failures": failures,
                    "transport": (
                        f"uvicorn on 127.0.0.1 ({args.workers} workers), keep-alive HTTP/1.1"
                    ),
                    "mix": "50% lookup, 50% read",
                    "service_cpu_us_per_request": round(service_us),
                    "postgres_cpu_us_per_request": round(postgres_us),
                    "load_average": os.getloadavg()[0],
                }
            )
        )
        print(
            json.dumps(
                {
                    "bench": "atena_lookup_throughput",
                    "value": round(throughput, 1),
                    "unit": "req/s",
                    "concurrency": 32,
                    "workers": args.workers,
                    "peak_rss_mb": peak_rss_mb(),
                }
            )
        )
        print(
            json.dumps(
                {
                    "bench": "atena_relay_drain",
                    "value": round(relay_seconds, 1),
                    "unit": "s",
                    "events": relayed,
                    "events_per_s": round(relayed / relay_seconds, 1) if relay_seconds else None,
                    "peak_rss_mb": peak_rss_mb(),
                }
            )
        )
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        if args.keep_db:
            print(f"# kept database {db_name}", file=sys.stderr)
        else:
            await drop_database(server_url, db_name)
        await drop_stream(nats_url, namespace)


async def drop_stream(nats_url: str, namespace: str) -> None:
    from mch_common.events.bus import EventBus

    bus = await EventBus.connect(nats_url, namespace=namespace, name="bench")
    try:
        await bus.delete_namespace()
    finally:
        await bus.close()


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C, so the database and the stream are still dropped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    asyncio.run(main())
