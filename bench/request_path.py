"""The shared request path alone (issue 18): what every service's request costs around its
statements, measured on boshi_core's routes through uvicorn as deployed (single-worker
replicas, one per core less the one PostgreSQL and the load generator need: bench/_http.py's
`replica_count`; the ceiling is one client process), against the same statements sent by raw
asyncpg in the same run.

- write: `POST /pregnancies` (token verified from cache, tenant, terminal and scope checked,
  body validated, the person read, the pregnancy, its event and its access record queued and
  written in one statement, the answer serialised; the relay publishes the event and the
  sealer chains the record in the same processes). Two round trips: the read before the
  first write is sent alone, and the one write is a transaction by itself (no BEGIN, no
  COMMIT; mch_common.db.on_driver_alone);
- read: `GET /people/{person_no}` (the same checks, the person, their pregnancies and
  children, the previous city's notifications, the access record, the profile serialised;
  five round trips, no BEGIN, no COMMIT).

The ceiling sends the same statements in the same transactions through an asyncpg pool from
this process, in a database of its own. The two take turns: BENCH_ROUNDS rounds (4), each a
slice of the service's writes and the same of the raw path's back to back, then the reads
likewise, the first of the two alternating by round, each slice begun once the replicas'
relay and sealer have caught up. The figures add the slices up; `round_ratios` gives each
round's ratio. A machine whose speed drifts within minutes moves both sides of a round alike,
where one phase of each a minute apart moved the ratio by a quarter. Each phase reports
throughput, the CPU time per request of the processes doing it (the replicas for the
service, this process for asyncpg; read from /proc) and of PostgreSQL's backends serving it,
and the ratios: throughput service/raw, and CPU per request raw/service (1.0 would be a path
that costs nothing around its statements). The service's line also gives the load generator's
CPU per request (`load_generator_cpu_us`: this process's HTTP client, on the same cores as the
replicas and counted in neither figure; the raw path has no such client).

A third pair of figures, `request_path_{write,read}_inprocess_cpu`, drives the same app as ASGI
in the bench's own process (no uvicorn, no HTTP, no other process on the clock) against the
same raw asyncpg statements in that process: CPU per request of the app and its driver, and
its ratio to the raw path's. On a machine whose speed drifts by half within minutes (other
tenants' load), this ratio moves far less than the throughput ratio of processes measured a
minute apart; it leaves out what uvicorn and the HTTP sockets cost.

`BENCH_PROFILE=<folder>` records a py-spy profile (collapsed stacks) of each replica during the
measured phases (py-spy is a developer's tool: `pip install py-spy`, not a dependency). It
samples without stopping the replica, so some stacks come out torn; `BENCH_PROFILE_BLOCKING=1`
stops it for each sample: whole stacks, but the figures of that run are slower.

Creates and drops its own database and JetStream namespace. Prints one JSON line per figure.
"""

import asyncio
import contextlib
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
from _common import ceiling_pool, result_line
from _cpu import cpu_seconds
from _http import (
    LeanClient,
    Replica,
    encode_json,
    replica_count,
    replica_processes,
    run_pool,
    wait_ready,
)
from boshi_intake import seed_people
from pydantic_core import to_json

from boshi_core.main import create_app
from boshi_core.migrate import MIGRATIONS
from boshi_core.testsupport import notification
from mch_common.dates import today_tokyo
from mch_common.db import asyncpg_dsn, create_database, drop_database, with_database
from mch_common.events import EventBus
from mch_common.ids import uuid7
from mch_common.migrations import upgrade_async
from mch_testing.keys import TEST_AUDIENCE, TEST_ISSUER, TestKeySet, serve_jwks
from mch_testing.servers import LOCAL_NATS, LOCAL_POSTGRES

WORKERS = replica_count()
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
WRITES = int(os.environ.get("BENCH_WRITES", "4000"))
READS = int(os.environ.get("BENCH_READS", "8000"))
# The service and the raw path take turns in this many rounds (`interleaved`).
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "4"))
# Every connection the measured callers hold is opened and has its statements prepared before
# the clock starts, as the ceiling's pool is (8 per replica left 24 of 32 backends to be
# started inside the measured run: 150 µs of PostgreSQL's CPU per write over 1,000 writes).
WARMUP = 2 * CONCURRENCY
PROFILE = os.environ.get("BENCH_PROFILE")
SCOPES = ("boshi:pregnancy:read", "boshi:pregnancy:write")
# The targets of issue 18, as ratios of throughput to the raw asyncpg ceiling.
TARGET_RATIO = {"write": 0.40, "read": 0.50}
PURPOSE = "母子保健事務 (MCH casework: person profile)"


def say(message: str) -> None:
    sys.stderr.write(f"request_path: {message}\n")
    sys.stderr.flush()


@dataclass(frozen=True)
class Phase:
    requests: int
    seconds: float
    cpu: float  # seconds, the processes doing the work (replicas, or this process)
    db_cpu: float  # seconds, PostgreSQL backends of the bench's database
    # seconds, this process while the replicas were timed: the load generator's HTTP client,
    # on the same cores as the service but not part of it
    client_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.requests * 1e6

    @property
    def db_cpu_us(self) -> float:
        return self.db_cpu / self.requests * 1e6

    @property
    def client_cpu_us(self) -> float:
        return self.client_cpu / self.requests * 1e6


class BackendClock:
    """CPU time of the PostgreSQL backends connected to the bench's database (the server is
    on this machine), except the clock's own."""

    def __init__(self, admin: asyncpg.Connection, database: str) -> None:
        self.admin, self.database = admin, database

    async def read(self) -> dict[int, float]:
        pids = await self.admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            self.database,
        )
        times = {row["pid"]: cpu_seconds(row["pid"]) for row in pids}
        return {pid: spent for pid, spent in times.items() if spent}  # 0.0: ended meanwhile

    @staticmethod
    def spent(before: dict[int, float], after: dict[int, float]) -> float:
        # A backend started during the phase spent all its time in it.
        return sum(t - before.get(pid, 0.0) for pid, t in after.items())


async def measure(
    count: int,
    work: Callable[[int], Awaitable[object]],
    *,
    pids: list[int] | None,
    backends: BackendClock,
) -> Phase:
    """Run `count` calls of `work`; CPU of `pids` (None: this process) and of the backends."""

    def cpu_now() -> float:
        if pids is None:
            return time.process_time()
        return sum(cpu_seconds(pid) for pid in pids)

    db_before, cpu_before, client_before = await backends.read(), cpu_now(), time.process_time()
    elapsed = await run_pool(count, work, concurrency=CONCURRENCY)
    client_after, cpu_after, db_after = time.process_time(), cpu_now(), await backends.read()
    return Phase(
        count,
        elapsed,
        cpu_after - cpu_before,
        BackendClock.spent(db_before, db_after),
        client_after - client_before if pids is not None else 0.0,
    )


@contextlib.contextmanager
def profiled(replicas: list[Replica], label: str) -> Iterator[None]:
    """py-spy on every replica while the block runs (BENCH_PROFILE), else nothing."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not PROFILE or not replicas:
        yield
        return
    folder = Path(PROFILE)
    folder.mkdir(parents=True, exist_ok=True)
    recorders = [
        subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(replica.pid),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(folder / f"{label}-{n}.txt"),
                *([] if os.environ.get("BENCH_PROFILE_BLOCKING") else ["--nonblocking"]),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n, replica in enumerate(replicas)
    ]
    time.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)
        for recorder in recorders:
            recorder.wait(timeout=60)


@dataclass
class Side:
    """One way of serving the requests (the replicas over HTTP, or raw asyncpg): `write(i)`
    sends the i-th notification, `read(i)` a profile read; `pids` are the processes whose CPU
    it spends (None: this one)."""

    write: Callable[[int], Awaitable[None]]
    read: Callable[[int], Awaitable[None]]
    pids: list[int] | None
    backends: BackendClock  # the PostgreSQL backends of its database


async def settled(admin: asyncpg.Connection) -> None:
    """Wait until the replicas' relay has published every event and their sealer chained
    every access record: what a slice left behind is not done on the next slice's clock."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        left = await admin.fetchval(
            "SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL)"
            " + (SELECT count(*) FROM audit_log WHERE hash IS NULL)"
        )
        if not left:
            return
        await asyncio.sleep(0.02)
    raise RuntimeError(f"the replicas left {left} events or access records for over 60 s")


@contextlib.asynccontextmanager
async def service_side(
    replicas: list[Replica],
    keys: TestKeySet,
    people: list[str],
    warm: list[str],
    backends: BackendClock,
) -> AsyncIterator[Side]:
    token = keys.mint(sub="bench-staff", scopes=SCOPES, roles=("mch_staff",))
    for replica in replicas:
        await wait_ready(replica.url)
    headers = {"Authorization": f"Bearer {token}"}
    clients = [LeanClient(replica.url, headers) for replica in replicas]
    # Encoded before the clock starts, as the in-process path and the ceiling have theirs.
    bodies = [encode_json(notification(p)) for p in warm + people]

    async def write(i: int) -> None:
        answer = await clients[i % len(clients)].post_encoded("/pregnancies", bodies[i])
        if answer.status != 201:
            raise RuntimeError(f"notification refused: {answer.status} {answer.text}")

    async def read(i: int) -> None:
        person_no = people[i % len(people)]
        answer = await clients[i % len(clients)].get(f"/people/{person_no}")
        if answer.status != 200:
            raise RuntimeError(f"profile refused: {answer.status} {answer.text}")

    try:
        # Warm-up: every replica fetches the JWKS, fills its pool, prepares its statements.
        await run_pool(len(warm), write, concurrency=CONCURRENCY)
        await run_pool(len(warm), lambda i: read(i + 1), concurrency=CONCURRENCY)
        yield Side(
            write=lambda i: write(i + len(warm)),
            read=read,
            pids=[r.pid for r in replicas],
            backends=backends,
        )
    finally:
        for client in clients:
            await client.close()


# The statements the routes send (SQLAlchemy's text, here in asyncpg's numbered form).
# A notification reads what it checks of the person (boshi_core.people.repository.standing).
_STANDING = "SELECT ward_code, residence_status, birth_date FROM people WHERE person_no = $1"
# A profile reads the columns its answer shows (boshi_core.people.repository).
_PROFILE_PERSON = (
    "SELECT person_no, version, residence_status, family_name, given_name, family_name_kana,"
    " given_name_kana, sex, birth_date, ward_code FROM people WHERE person_no = $1"
)
_PREGNANCIES = (
    "SELECT id, status, outcome, notified_on, expected_delivery_date, expected_children"
    " FROM pregnancies WHERE person_no = $1 ORDER BY notified_on DESC"
)
_CHILDREN = (
    "SELECT id, person_no, birth_date, birth_weight_g FROM children"
    " WHERE mother_person_no = $1 ORDER BY birth_date"
)
_PREVIOUS_CITY = (
    "SELECT * FROM previous_city_records WHERE person_no = $1 AND item_no = $2"
    " ORDER BY taken_on, as_of, record_key"
)
_INSERT_PREGNANCY = (
    "INSERT INTO pregnancies (id, person_no, ward_code, channel, status, notified_on, name,"
    " name_kana, birth_date, age_at_notification, occupation, residence, nationality,"
    " weeks_at_notification, expected_delivery_date, expected_children, diagnosed_by,"
    " std_tested, tb_tested, notifier_name, contact_name, contact_address, contact_phone,"
    " contact_email, application_date, collection_ward_code, id_document_type, id_checked_by,"
    " id_checked_at, created_by) VALUES ($1, $2, $3, 'window', 'open', $4, $5, $6, $7, $8, $9,"
    " $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $3,"
    " 'my_number_card', 'staff-0001', $24, 'bench-staff')"
)
_RECORDS = (
    "INSERT INTO audit_log (occurred_at, actor, terminal, action, target_type, target_id,"
    " purpose, outcome, detail, correlation_id, persons) SELECT r.occurred_at, r.actor,"
    " r.terminal, r.action, r.target_type, r.target_id, r.purpose, r.outcome, r.detail,"
    " r.correlation_id, CAST(r.persons AS text[]) FROM unnest($1::timestamptz[], $2::text[],"
    " $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::jsonb[],"
    " $10::text[], $11::text[]) AS r(occurred_at, actor, terminal, action, target_type,"
    " target_id, purpose, outcome, detail, correlation_id, persons)"
)
# The notification's one write, as the unit of work sends it: the pregnancy (its parameters
# numbered after the records' and the event's), its event and its access record.
_PREGNANCY_EVENTS_AND_RECORDS = (
    "WITH pregnancy AS ("
    + re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) + 14}", _INSERT_PREGNANCY)
    + "), events AS (INSERT INTO outbox (event_id, subject, envelope) SELECT * FROM"
    " unnest($12::uuid[], $13::text[], $14::jsonb[])) " + _RECORDS
)


def _record(action: str, person_no: str, detail: dict[str, Any]) -> list[list[Any]]:
    detail = {"ward": None, "roles": ["mch_staff"], "dept": "kosodate", **detail}
    return [
        [datetime.now(UTC)],
        ["bench-staff"],
        ["TERM-0001"],
        [action],
        ["person"],
        [person_no],
        [PURPOSE],
        ["success"],
        [to_json(detail).decode()],  # as the unit of work writes it
        [str(uuid7())],
        ["{" + person_no + "}"],
    ]


# The form every notification of the bench carries, as the ceiling binds it.
_FORM = notification(None)["form"]
_EXPECTED = date.fromisoformat(_FORM["expected_delivery_date"])
_APPLIED = date.fromisoformat(_FORM["application_date"])


async def raw_write(conn: asyncpg.Connection, person_no: str) -> None:
    """A notification's statements as the route sends them: the person read alone (no BEGIN:
    a read before the first write), then the one write, a transaction by itself."""
    form = _FORM
    pregnancy_id, event_id = uuid7(), uuid7()
    envelope = {
        "specversion": "1.0",
        "id": str(event_id),
        "source": "urn:mch:401005:boshi_core",
        "type": "boshi.pregnancy.opened",
        "subject": str(pregnancy_id),
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": {"pregnancy_id": str(pregnancy_id), "person_no": person_no},
        "tenant": "401005",
    }
    person = await conn.fetchrow(_STANDING, person_no)
    assert person is not None
    await conn.execute(
        _PREGNANCY_EVENTS_AND_RECORDS,
        *_record(
            "pregnancy.open",
            person_no,
            {"pregnancy_id": str(pregnancy_id), "channel": "window"},
        ),
        [event_id],
        ["boshi.pregnancy.opened"],
        [to_json(envelope).decode()],
        pregnancy_id,
        person_no,
        form["collection_ward_code"],
        today_tokyo(),
        form["name"],
        form["name_kana"],
        date(1994, 5, 10),
        32,
        form["occupation"],
        form["residence"],
        form["nationality"],
        form["weeks_of_pregnancy"],
        _EXPECTED,
        1,
        form["diagnosed_by"],
        True,
        False,
        form["notifier_name"],
        form["contact_name"],
        form["contact_address"],
        form["contact_phone"],
        form["contact_email"],
        _APPLIED,
        datetime.now(UTC),
    )


async def raw_read(conn: asyncpg.Connection, person_no: str) -> None:
    """A profile's statements as the route sends them: the person (checked for the ward),
    their pregnancies and children, the pregnancy notifications of the city she moved from,
    each read alone, and the access record, a transaction by itself."""
    assert await conn.fetchrow(_PROFILE_PERSON, person_no) is not None
    await conn.fetch(_PREGNANCIES, person_no)
    await conn.fetch(_CHILDREN, person_no)
    await conn.fetch(_PREVIOUS_CITY, person_no, "80")  # item 80
    await conn.execute(_RECORDS, *_record("person.view", person_no, {}))


@contextlib.asynccontextmanager
async def raw_side(
    dsn: str, people: list[str], warm: list[str], backends: BackendClock
) -> AsyncIterator[Side]:
    pool = await ceiling_pool(dsn, CONCURRENCY)

    async def write(person_no: str) -> None:
        async with pool.acquire() as conn:
            await raw_write(conn, person_no)

    async def read(i: int) -> None:
        async with pool.acquire() as conn:
            await raw_read(conn, people[i % len(people)])

    try:
        await run_pool(len(warm), lambda i: write(warm[i]), concurrency=CONCURRENCY)
        yield Side(write=lambda i: write(people[i]), read=read, pids=None, backends=backends)
    finally:
        await pool.close()


async def interleaved(
    service: Side, raw: Side, replicas: list[Replica], admin: asyncpg.Connection
) -> dict[str, tuple[list[Phase], list[Phase]]]:
    """ROUNDS rounds of writes then reads, each a slice of the service's and the same of the
    raw path's, back to back (the first of the two alternating by round): on a machine whose
    speed drifts within minutes, each ratio compares two slices run under the same drift."""
    done: dict[str, tuple[list[Phase], list[Phase]]] = {"write": ([], []), "read": ([], [])}
    sizes = {"write": WRITES // ROUNDS, "read": READS // ROUNDS}
    for number in range(ROUNDS):
        for path, size in sizes.items():
            offset = number * size
            order = [(0, service), (1, raw)] if number % 2 == 0 else [(1, raw), (0, service)]
            for index, side in order:
                work = side.write if path == "write" else side.read
                await settled(admin)
                with profiled(replicas if side is service else [], f"{path}{number}"):
                    phase = await measure(
                        size,
                        functools.partial(_shifted, work, offset),
                        pids=side.pids,
                        backends=side.backends,
                    )
                done[path][index].append(phase)
    return done


def _shifted(work: Callable[[int], Awaitable[None]], offset: int, i: int) -> Awaitable[None]:
    return work(i + offset)


def pooled(phases: list[Phase]) -> Phase:
    """The rounds' slices as one phase: their requests, seconds and CPU added up."""
    return Phase(
        sum(p.requests for p in phases),
        sum(p.seconds for p in phases),
        sum(p.cpu for p in phases),
        sum(p.db_cpu for p in phases),
        sum(p.client_cpu for p in phases),
    )


async def asgi_call(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> tuple[int, bytes]:
    """One request through the app's ASGI interface, as uvicorn would make it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    received = False
    status: list[int] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError  # pragma: no cover

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status[0], b"".join(chunks)


def app_headers(token: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"host", b"bench"),
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/json"),
    ]


async def app_write(app: Any, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """A notification through the app's ASGI interface."""
    status, answer = await asgi_call(app, "POST", "/pregnancies", headers, body)
    if status != 201:
        raise RuntimeError(f"notification refused: {status} {answer[:300]!r}")


async def app_read(app: Any, headers: list[tuple[bytes, bytes]], person_no: str) -> None:
    """A person's profile through the app's ASGI interface."""
    status, answer = await asgi_call(app, "GET", f"/people/{person_no}", headers)
    if status != 200:
        raise RuntimeError(f"profile refused: {status} {answer[:300]!r}")


def app_settings(settings: dict[str, str]) -> Any:
    """boshi_core's app with `settings`, read from the environment as a replica reads them."""
    for name, value in settings.items():
        os.environ[f"BOSHI_{name.upper()}"] = value
    return create_app()


async def inprocess_run(
    settings: dict[str, str],
    keys: TestKeySet,
    people: list[str],
    warm: list[str],
    backends: BackendClock,
) -> tuple[Phase, Phase]:
    """The app in this process, driven as ASGI: CPU per request is this process's."""
    app = app_settings(settings)
    headers = app_headers(keys.mint(sub="bench-staff", scopes=SCOPES, roles=("mch_staff",)))
    bodies = [json.dumps(notification(p)).encode() for p in warm + people]

    async def write(i: int) -> None:
        await app_write(app, headers, bodies[i])

    async def read(i: int) -> None:
        await app_read(app, headers, people[i % len(people)])

    async with app.router.lifespan_context(app):
        await run_pool(len(warm), write, concurrency=CONCURRENCY)
        await run_pool(len(warm), lambda i: read(i + 1), concurrency=CONCURRENCY)
        writes = await measure(
            len(people), lambda i: write(i + len(warm)), pids=None, backends=backends
        )
        reads = await measure(READS, read, pids=None, backends=backends)
    return writes, reads


def cpu_line(
    name: str, unit: str, measured: Phase, raw: Phase, ceiling_is: str, common: dict[str, Any]
) -> str:
    """CPU per request; lower is better here: the ratio is the raw path's CPU to this one's."""
    return result_line(
        name,
        measured.cpu_us,
        unit,
        ceiling_cpu_us=round(raw.cpu_us, 1),
        ceiling_is=ceiling_is,
        cpu_ratio=round(raw.cpu_us / measured.cpu_us, 4),
        db_cpu_us=round(measured.db_cpu_us, 1),
        ceiling_db_cpu_us=round(raw.db_cpu_us, 1),
        # The HTTP client driving the replicas, on the same cores (the ceiling has none).
        **(
            {"load_generator_cpu_us": round(measured.client_cpu_us, 1)}
            if measured.client_cpu
            else {}
        ),
        **common,
    )


def figures(
    path: str,
    service_rounds: list[Phase],
    raw_rounds: list[Phase],
    app: Phase,
    load: tuple[float, float],
) -> list[str]:
    unit = "writes/s" if path == "write" else "reads/s"
    service, raw = pooled(service_rounds), pooled(raw_rounds)
    common: dict[str, Any] = {
        "concurrency": CONCURRENCY,
        "requests": service.requests,
        "load_average": [round(load[0], 2), round(load[1], 2)],
    }
    replicas = {"replicas": WORKERS, **common}
    return [
        result_line(
            f"request_path_{path}",
            service.rate,
            unit,
            target=TARGET_RATIO[path],
            ceiling=raw.rate,
            target_is="ratio",
            round_ratios=[
                round(s.rate / r.rate, 3) for s, r in zip(service_rounds, raw_rounds, strict=True)
            ],
            **replicas,
        ),
        cpu_line(
            f"request_path_{path}_cpu",
            "µs CPU/request (replicas)",
            service,
            raw,
            "asyncpg client in one process, same statements",
            replicas,
        ),
        cpu_line(
            f"request_path_{path}_inprocess_cpu",
            "µs CPU/request (the app as ASGI in one process)",
            app,
            raw,
            "asyncpg client in the same process, same statements",
            common,
        ),
    ]


async def main() -> None:
    server = os.environ.get("DATABASE_URL") or LOCAL_POSTGRES
    nats_url = os.environ.get("NATS_URL") or LOCAL_NATS
    name = f"bench_reqpath_{os.getpid()}"
    # The raw path writes in a database of its own: the replicas' sealer would otherwise
    # chain its access records on the replicas' CPU while the raw path is timed.
    raw_name = f"{name}_raw"
    namespace = f"benchrp{os.getpid()}"
    await create_database(server, name)
    await create_database(server, raw_name)
    url, raw_url = with_database(server, name), with_database(server, raw_name)
    admin = await asyncpg.connect(asyncpg_dsn(url))
    raw_admin = await asyncpg.connect(asyncpg_dsn(raw_url))
    backends, raw_backends = BackendClock(admin, name), BackendClock(raw_admin, raw_name)
    keys = TestKeySet()
    load_start = os.getloadavg()[0]
    try:
        await upgrade_async(MIGRATIONS, url)
        await upgrade_async(MIGRATIONS, raw_url)
        warm = await seed_people(asyncpg_dsn(url), "5", WARMUP)
        service_people = await seed_people(asyncpg_dsn(url), "6", WRITES)
        raw_warm = await seed_people(asyncpg_dsn(raw_url), "7", WARMUP)
        raw_people = await seed_people(asyncpg_dsn(raw_url), "8", WRITES)
        app_warm = await seed_people(asyncpg_dsn(url), "3", WARMUP)
        app_people = await seed_people(asyncpg_dsn(url), "4", WRITES)
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
            with replica_processes(
                "boshi_core.main:create_app", "BOSHI_", settings, WORKERS
            ) as replicas:
                async with (
                    service_side(replicas, keys, service_people, warm, backends) as service,
                    raw_side(asyncpg_dsn(raw_url), raw_people, raw_warm, raw_backends) as raw,
                ):
                    rounds = await interleaved(service, raw, replicas, admin)
            for path in ("write", "read"):
                service_rate, raw_rate = (pooled(side).rate for side in rounds[path])
                say(f"{path}s: service {service_rate:.1f}/s, raw asyncpg {raw_rate:.1f}/s")
            await admin.execute("CHECKPOINT")
            app_write, app_read = await inprocess_run(
                settings, keys, app_people, app_warm, backends
            )
        say(f"in process: {app_write.cpu_us:.0f} µs/write, {app_read.cpu_us:.0f} µs/read")
    finally:
        await admin.close()
        await raw_admin.close()
        await drop_database(server, name)
        await drop_database(server, raw_name)
        bus = await EventBus.connect(nats_url, namespace=namespace, name="bench")
        await bus.delete_namespace()
        await bus.close()
    load = (load_start, os.getloadavg()[0])
    for path, app in (("write", app_write), ("read", app_read)):
        for line in figures(path, *rounds[path], app, load):
            print(line)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
