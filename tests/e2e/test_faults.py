"""Faults in the middle of a stream of changes: every service in turn killed (SIGKILL) and
started again, then NATS restarted, then PostgreSQL restarted, while one writer keeps changing
synthetic families through the public APIs (atena's name changes and moves of mothers and their
children, boshi_core's prenatal checkups of the mothers' pregnancies).

The stack runs on an embedded PostgreSQL and an embedded NATS this test owns (mch_testing.stack):
the machine's own servers are never restarted. Afterwards every change has reached every
consumer exactly once and in each person's order, and every service's audit chain verifies:

- atena -> boshi_core (`boshi_core-atena`: the people read model) and immunization_bridge
  (`immunization_bridge-atena`: the child register);
- boshi_core -> intermediate_server (`intermediate_server-boshi`: the replica).

The catch-up after each fault (from the fault's end to every change sent before it being in
every read model) is measured and logged (`mch.e2e.faults`), not asserted: timings on a shared
machine prove nothing. A consumer that never catches up fails the test after CATCH_UP_LIMIT.
"""

import asyncio
import itertools
import json
import logging
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from faker import Faker
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from mch_common.db import asyncpg_url
from mch_common.events.bus import EventBus
from mch_testing.stack import ROOT, SERVICES, Stack, running_stack

from ..conftest import my_number_findings

log = logging.getLogger("mch.e2e.faults")

KOKURA_KITA = "401064"
KITAKYUSHU = "401005"
FAMILIES = 6
PACE = 0.05  # seconds between two changes of the writer
STEADY = 2.0  # seconds of changes before each fault and while a service is down
# NATS and PostgreSQL stay down longer: past the point where a growing retry delay (the
# relay's once reached 5 s) would still be waiting when they come back.
OUTAGE = 5.0
# Generous: only a consumer that lost something (or is stuck) takes this long.
CATCH_UP_LIMIT = 120.0
CONSUMERS = {
    "boshi_core-atena": "boshi_core",
    "immunization_bridge-atena": "immunization_bridge",
    "intermediate_server-boshi": "intermediate_server",
}


def _today() -> date:
    return datetime.now(ZoneInfo("Asia/Tokyo")).date()


@dataclass
class Family:
    mother: str
    child: str
    pregnancy: str


@dataclass
class Sent:
    """What the writer's changes left, as the services answered them."""

    versions: dict[str, int] = field(default_factory=dict)  # person -> latest version
    given_names: dict[str, str] = field(default_factory=dict)  # person -> latest given name
    blocks: dict[str, str] = field(default_factory=dict)  # person -> latest address block
    checkups: dict[str, str] = field(default_factory=dict)  # checkup id -> mother
    changes: int = 0

    def copy(self) -> "Sent":
        return Sent(
            dict(self.versions),
            dict(self.given_names),
            dict(self.blocks),
            dict(self.checkups),
            self.changes,
        )


class Writer(threading.Thread):
    """One writer, one change after another; each is retried with its own Idempotency-Key
    until a service answers it (the service may be dead, NATS or PostgreSQL restarting): a
    retry of a change that was committed is answered from the first time, never applied twice.
    """

    def __init__(self, stack: Stack, tokens: dict[str, str], families: list[Family]) -> None:
        super().__init__(name="change-writer", daemon=True)
        self.stack = stack
        self.tokens = tokens
        self.families = families
        self.sent = Sent()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.failure: str | None = None
        self.retries = 0
        self.fake = Faker("ja_JP")
        self.http = httpx.Client(timeout=10.0)

    def snapshot(self) -> Sent:
        with self.lock:
            return self.sent.copy()

    def after(self, changes: int) -> Sent:
        """The snapshot once more than `changes` changes were answered."""
        deadline = time.monotonic() + CATCH_UP_LIMIT
        while (sent := self.snapshot()).changes <= changes:
            if not self.is_alive() or time.monotonic() > deadline:
                raise AssertionError(f"the writer stopped: {self.failure}")
            time.sleep(0.01)
        return sent

    def run(self) -> None:
        try:
            for step in itertools.count():
                if self.stopping.is_set():
                    return
                self._change(step)
                time.sleep(PACE)
        except Exception as exc:  # noqa: BLE001 - the test reads it and fails
            self.failure = f"{type(exc).__name__}: {exc}"

    def _change(self, step: int) -> None:
        family = self.families[(step // 3) % len(self.families)]
        if step % 3 == 2:
            self._checkup(family, step)
            return
        person = family.mother if step % 2 == 0 else family.child
        if (step // 3) % 2 == 0:
            given = self.fake.first_name_female() if person == family.mother else "陽菜"
            answer = self.post(
                "atena",
                f"/persons/{person}/name-change",
                "registry01",
                {
                    "effective_date": _today().isoformat(),
                    "given_name": f"{given}{step}",
                    "given_name_kana": self.fake.first_kana_name_female(),
                },
            )
        else:
            answer = self.post(
                "atena",
                f"/persons/{person}/address-change",
                "registry01",
                {"effective_date": _today().isoformat(), "address": _address(f"2-{step}")},
            )
        with self.lock:
            self.sent.versions[person] = answer["version"]
            self.sent.given_names[person] = answer["given_name"]
            self.sent.blocks[person] = answer["address"]["block"]
            self.sent.changes += 1

    def _checkup(self, family: Family, step: int) -> None:
        answer = self.post(
            "boshi_core",
            f"/pregnancies/{family.pregnancy}/checkups",
            "kosodate01",
            {
                "checkup_date": _today().isoformat(),
                "gestational_weeks": 12 + step % 28,
                "systolic_bp": 110 + step % 20,
                "diastolic_bp": 70,
            },
        )
        with self.lock:
            self.sent.checkups[answer["id"]] = family.mother
            self.sent.changes += 1

    def post(self, service: str, path: str, user: str, body: dict[str, Any]) -> Any:
        key = str(uuid.uuid4())
        deadline = time.monotonic() + CATCH_UP_LIMIT
        while True:
            answer: httpx.Response | None = None
            try:
                answer = self.http.post(
                    self.stack.url(service) + path,
                    json=body,
                    headers={
                        "Authorization": f"Bearer {self.tokens[user]}",
                        "Idempotency-Key": key,
                        "X-Access-Purpose": "fault test: a change of the stream",
                    },
                )
            except httpx.TransportError:
                pass
            if answer is not None:
                if answer.status_code in (200, 201):
                    return answer.json()
                # 5xx: the database or NATS is away; 409: the first try still runs (or was cut).
                if answer.status_code < 500 and answer.status_code != 409:
                    problem = f"{answer.status_code} {answer.text}"
                    raise AssertionError(f"POST {service} {path}: {problem}")
            if time.monotonic() > deadline:
                raise AssertionError(f"POST {service} {path} not answered within the limit")
            self.retries += 1
            time.sleep(0.2)


def _address(block: str) -> dict[str, str]:
    return {
        "postal_code": "802-0001",
        "prefecture": "福岡県",
        "municipality_code": KITAKYUSHU,
        "ward_code": KOKURA_KITA,
        "town": "小倉北区浅野",
        "block": block,
    }


def _families(writer: Writer, models: "ReadModels", count: int) -> list[Family]:
    """Mothers registered in atena, a child born to each, then (once atena's events have
    reached boshi_core) a pregnancy opened at the window for each mother."""
    fake = writer.fake
    today = _today()
    registered = []
    for index in range(count):
        mother = writer.post(
            "atena",
            "/persons",
            "registry01",
            {
                "family_name": fake.last_name(),
                "given_name": fake.first_name_female(),
                "family_name_kana": fake.last_kana_name(),
                "given_name_kana": fake.first_kana_name_female(),
                "sex": "female",
                "birth_date": (today - timedelta(days=365 * 30 + index)).isoformat(),
                "address": _address(f"1-{index}"),
                "effective_date": (today - timedelta(days=400)).isoformat(),
            },
        )
        child = writer.post(
            "atena",
            f"/persons/{mother['person_no']}/births",
            "registry01",
            {
                "given_name": "陽菜",
                "given_name_kana": "ヒナ",
                "sex": "female",
                "birth_date": (today - timedelta(days=100)).isoformat(),
            },
        )
        registered.append((mother, child))
        for person in (mother, child):
            writer.sent.versions[person["person_no"]] = person["version"]
            writer.sent.given_names[person["person_no"]] = person["given_name"]
            writer.sent.blocks[person["person_no"]] = person["address"]["block"]
    models.caught_up(writer.snapshot(), [])
    return [
        Family(mother["person_no"], child["person_no"], _open_pregnancy(writer, mother, today))
        for mother, child in registered
    ]


def _open_pregnancy(writer: Writer, mother: dict[str, Any], today: date) -> str:
    name = f"{mother['family_name']} {mother['given_name']}"
    body = {
        "person_no": mother["person_no"],
        "form": {
            "name": name,
            "name_kana": f"{mother['family_name_kana']} {mother['given_name_kana']}",
            "birth_date": mother["birth_date"],
            "residence": "福岡県北九州市小倉北区浅野",
            "weeks_of_pregnancy": 10,
            "expected_delivery_date": (today + timedelta(days=210)).isoformat(),
            "diagnosed_by": "小倉レディースクリニック",
            "std_tested": True,
            "tb_tested": False,
            "notifier_name": name,
            "application_date": today.isoformat(),
            "collection_ward_code": KOKURA_KITA,
        },
        "identity_check": {"document_type": "my_number_card", "checked_by": "窓口 職員"},
    }
    opened = writer.post("boshi_core", "/pregnancies", "kosodate01", body)
    return str(opened["id"])


# --- what the consumers hold ------------------------------------------------------------------


class ReadModels:
    """The consumers' databases, read as the server's superuser (the replica's row-level
    security does not apply to it)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    async def _rows(self, service: str, query: str, *args: Any) -> list[asyncpg.Record]:
        url = asyncpg_url(self.stack.database_url(service)).replace("+asyncpg", "")
        conn = await asyncpg.connect(url, timeout=5)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    async def missing(self, sent: Sent, families: list[Family]) -> dict[str, int]:
        """Per consumer, how many of the changes in `sent` it does not show yet."""
        people = list(sent.versions)
        children = [f.child for f in families]
        boshi = await self._rows(
            "boshi_core",
            "SELECT person_no, version FROM people WHERE person_no = ANY($1)",
            people,
        )
        bridge = await self._rows(
            "immunization_bridge",
            "SELECT person_no, version FROM child_register WHERE person_no = ANY($1)",
            children,
        )
        replica = await self._rows(
            "intermediate_server",
            "SELECT record_key FROM replica_entry WHERE record_key = ANY($1)",
            [*sent.checkups, *(f.pregnancy for f in families)],
        )
        held = {r["person_no"]: r["version"] for r in boshi}
        held_children = {r["person_no"]: r["version"] for r in bridge}
        keys = {r["record_key"] for r in replica}
        return {
            "boshi_core-atena": sum(held.get(p, 0) < v for p, v in sent.versions.items()),
            "immunization_bridge-atena": sum(
                held_children.get(c, 0) < sent.versions[c] for c in children
            ),
            "intermediate_server-boshi": sum(
                k not in keys for k in [*sent.checkups, *(f.pregnancy for f in families)]
            ),
        }

    def caught_up(
        self, sent: Sent, families: list[Family], *, since: float | None = None
    ) -> dict[str, float]:
        """Seconds from `since` (monotonic; default now) until each consumer shows every
        change in `sent`."""
        started = time.monotonic() if since is None else since
        took: dict[str, float] = {}
        while True:
            try:
                missing = asyncio.run(self.missing(sent, families))
            except (OSError, asyncpg.PostgresError):
                missing = dict.fromkeys(CONSUMERS, -1)  # the database is not back yet
            now = time.monotonic()
            for consumer, count in missing.items():
                if count == 0:
                    took.setdefault(consumer, now - started)
            if len(took) == len(CONSUMERS):
                return took
            if now - started > CATCH_UP_LIMIT:
                raise AssertionError(f"not caught up after {CATCH_UP_LIMIT:.0f} s: {missing}")
            time.sleep(0.05)


# --- the faults -------------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    inflict: Callable[[], None]


def _faults(stack: Stack) -> list[Fault]:
    def kill_and_restart(service: str) -> Callable[[], None]:
        def inflict() -> None:
            stack.kill(service)
            time.sleep(STEADY)  # the stream goes on without it
            stack.start_service(service)

        return inflict

    return [
        *(Fault(f"kill -9 {service}", kill_and_restart(service)) for service in SERVICES),
        Fault("NATS restart", lambda: stack.restart_nats(down=OUTAGE)),
        Fault("PostgreSQL restart", lambda: stack.restart_postgres(down=OUTAGE)),
    ]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("faults_stack"), own_servers=True) as running:
        yield running


def test_every_change_reaches_every_consumer_once_through_every_fault(stack: Stack) -> None:
    tokens = {user: stack.token(user) for user in ("registry01", "kosodate01")}
    writer = Writer(stack, tokens, [])
    models = ReadModels(stack)
    writer.families = _families(writer, models, FAMILIES)
    models.caught_up(writer.snapshot(), writer.families)
    writer.start()
    figures = []
    try:
        for fault in _faults(stack):
            time.sleep(STEADY)
            assert writer.is_alive(), writer.failure
            started = time.monotonic()
            fault.inflict()
            ended = time.monotonic()
            # Every change answered before the fault ended, and the first one after it (so a
            # relay still waiting to retry when the fault ended is counted too).
            sent = writer.after(writer.snapshot().changes)
            took = models.caught_up(sent, writer.families, since=ended)
            figures.append(
                {
                    "fault": fault.name,
                    "fault_seconds": round(ended - started, 2),
                    "changes_sent": sent.changes,
                    "catch_up_seconds": {c: round(s, 2) for c, s in took.items()},
                }
            )
            log.info("%s", json.dumps(figures[-1], ensure_ascii=False))
    finally:
        writer.stopping.set()
        writer.join(timeout=CATCH_UP_LIMIT)
        writer.http.close()
    assert writer.failure is None, writer.failure
    sent = writer.snapshot()
    models.caught_up(sent, writer.families)
    (stack.folder / "faults.json").write_text(json.dumps(figures, indent=1, ensure_ascii=False))
    log.info("changes %d, retries %d", sent.changes, writer.retries)

    asyncio.run(_exactly_once_in_order(stack, sent, writer.families))
    _every_audit_chain_verifies(stack)
    _no_log_line_shows_a_my_number(stack)


async def _exactly_once_in_order(stack: Stack, sent: Sent, families: list[Family]) -> None:
    """Each event of the stream once on NATS and once in each consumer's inbox; each person's
    events applied in the order they were made; the read models as the last change left them."""
    models = ReadModels(stack)
    people = list(sent.versions)
    atena = await models._rows(
        "atena",
        """SELECT event_id::text AS id, envelope->'data'->'person'->>'person_no' AS person,
                  (envelope->'data'->'person'->>'version')::int AS version
           FROM outbox WHERE envelope->'data'->'person'->>'person_no' = ANY($1)""",
        people,
    )
    boshi = await models._rows(
        "boshi_core",
        """SELECT event_id::text AS id, envelope->'data'->>'person_no' AS person, position
           FROM outbox WHERE envelope->'data'->>'person_no' = ANY($1)
             AND subject IN ('boshi.pregnancy.opened', 'boshi.prenatal_checkup.recorded')""",
        [f.mother for f in families],
    )
    assert len(atena) >= len(people) + sent.changes - len(sent.checkups)
    assert len(boshi) == len(families) + len(sent.checkups)
    published = await _published_ids(stack, ["atena", "boshi"])
    twice = {i: n for i, n in published.items() if n > 1}
    assert twice == {}, "published more than once"
    assert not [r["id"] for r in [*atena, *boshi] if r["id"] not in published], "never published"

    by_consumer = {"boshi_core-atena": atena, "immunization_bridge-atena": atena}
    by_consumer["intermediate_server-boshi"] = boshi
    for consumer, service in CONSUMERS.items():
        made = by_consumer[consumer]
        inbox = await models._rows(
            service,
            "SELECT event_id, processed_at FROM inbox WHERE consumer = $1 AND event_id = ANY($2)",
            consumer,
            [r["id"] for r in made],
        )
        seen = Counter(r["event_id"] for r in inbox)
        assert len(seen) == len(made), f"{consumer} lost {len(made) - len(seen)} event(s)"
        applied = {r["event_id"]: r["processed_at"] for r in inbox}
        order = "version" if consumer.endswith("-atena") else "position"
        for person in {r["person"] for r in made}:
            theirs = sorted((r for r in made if r["person"] == person), key=lambda r: r[order])
            times = [applied[r["id"]] for r in theirs]
            assert times == sorted(times), f"{consumer} applied {person}'s events out of order"

    boshi_people = await models._rows(
        "boshi_core",
        "SELECT person_no, version, given_name, address->>'block' AS block FROM people "
        "WHERE person_no = ANY($1)",
        people,
    )
    assert {r["person_no"]: (r["version"], r["given_name"], r["block"]) for r in boshi_people} == {
        p: (v, sent.given_names[p], sent.blocks[p]) for p, v in sent.versions.items()
    }
    children = await models._rows(
        "immunization_bridge",
        "SELECT person_no, version, given_name FROM child_register WHERE person_no = ANY($1)",
        [f.child for f in families],
    )
    assert {r["person_no"]: (r["version"], r["given_name"]) for r in children} == {
        f.child: (sent.versions[f.child], sent.given_names[f.child]) for f in families
    }
    replica = await models._rows(
        "intermediate_server",
        "SELECT record_key, count(*) AS n FROM replica_entry WHERE record_key = ANY($1) "
        "GROUP BY record_key",
        [*sent.checkups, *(f.pregnancy for f in families)],
    )
    assert {r["record_key"]: r["n"] for r in replica} == dict.fromkeys(
        [*sent.checkups, *(f.pregnancy for f in families)], 1
    )


async def _published_ids(stack: Stack, streams: list[str]) -> Counter[str]:
    """How often each event id was stored on the streams (a re-publish inside JetStream's
    duplicate window is dropped; one outside it would show here)."""
    admin = stack.nats_admin()
    bus = await EventBus.connect(
        admin.url, name="faults-check", user=admin.user, password=admin.password
    )
    counted: Counter[str] = Counter()
    try:
        for name in streams:
            stream = bus.naming.stream(name)
            info = await bus.js.stream_info(stream)
            sub = await bus.js.pull_subscribe(
                bus.naming.subject(f"{name}.>"),
                stream=stream,
                config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.ALL),
            )
            remaining = info.state.messages
            while remaining > 0:
                msgs = await sub.fetch(min(remaining, 500), timeout=5)
                remaining -= len(msgs)
                counted.update(json.loads(m.data)["id"] for m in msgs)
                await msgs[-1].ack()
            await sub.unsubscribe()
    finally:
        await bus.close()
    return counted


def _every_audit_chain_verifies(stack: Stack) -> None:
    """As `make demo` checks them: the auditor's verify endpoint, and the intermediate
    server's operator command (no demo user holds its audit scope)."""
    auditor = stack.token("auditor01")
    with httpx.Client(timeout=60) as http:
        for service in SERVICES:
            if service == "intermediate_server":
                continue
            verdict = http.get(
                stack.url(service) + "/admin/audit/verify",
                headers={"Authorization": f"Bearer {auditor}"},
            )
            assert verdict.status_code == 200, verdict.text
            assert verdict.json().get("ok") is True, (service, verdict.json())
    env = {**stack.env, **stack.settings("intermediate_server")}
    done = subprocess.run(
        [sys.executable, "-m", "intermediate_server.audit", "verify"],
        cwd=Path(ROOT / "services" / "intermediate_server"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _no_log_line_shows_a_my_number(stack: Stack) -> None:
    """Not even the errors of the outages (a failed statement, a dropped connection)."""
    written = [*(stack.folder / "logs").glob("*.log"), stack.output]
    leaks = [
        f"{path.name}:{number}: {', '.join(why)}"
        for path in written
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if (why := my_number_findings(line, ()))
    ]
    assert leaks == []
