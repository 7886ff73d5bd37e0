"""A full day at the registry (the window's changes, and a registry extract loaded in bulk,
whose events the relay builds as it publishes); then every event published to NATS, every log
line and what the load printed is scanned for anything that passes the My Number check digit."""

import asyncio
import csv
import io
import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atena import cli
from atena.bulk.parse import HEADER
from atena.config import Settings
from atena.testing import YAHATA_NISHI, Headers, person_body
from mch_common.events import read_outbox
from mch_common.events.bus import EventBus
from mch_common.logs import JsonFormatter
from mch_common.mynumber import generate_my_number, is_valid_my_number

TWELVE = re.compile(r"\d{12}")


# A UUID's last group is 12 hex characters, all digits in about one UUID of 280, and then about
# one in ten passes the check digit: never a My Number (mch_common.mynumber skips them too).
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def my_numbers_in(text_: str) -> list[str]:
    # Every 12-digit window of every digit run: a number glued to other digits still counts.
    found = []
    for run in re.findall(r"\d{12,}", UUID.sub(" ", text_)):
        found += [
            run[i : i + 12] for i in range(len(run) - 11) if is_valid_my_number(run[i : i + 12])
        ]
    return found


def test_the_scan_finds_a_my_number_but_not_a_uuid_ending_in_one() -> None:
    number = "063687090359"
    assert is_valid_my_number(number)
    assert number in my_numbers_in(f"tel 0930{number}")  # glued to other digits
    assert my_numbers_in(f'"id": "0190f5d2-7c1e-7a3b-8c4d-{number}"') == []


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.raw: list[str] = []
        self.json = io.StringIO()
        self.formatter_ = JsonFormatter("atena")

    def emit(self, record: logging.LogRecord) -> None:
        raw = record.getMessage() + repr(record.args) + repr(getattr(record, "fields", ""))
        if record.exc_info:
            raw += logging.Formatter().formatException(record.exc_info)
        self.raw.append(raw)
        self.json.write(self.formatter_.format(record) + "\n")


async def run_day(client: httpx.AsyncClient, h: Headers) -> tuple[list[str], list[str]]:
    """Returns the My Numbers used and the response bodies seen."""
    numbers: list[str] = []
    bodies: list[str] = []

    async def call(method: str, url: str, **kw: Any) -> httpx.Response:
        r = await client.request(method, url, **kw)
        bodies.append(r.text)
        return r

    writer = h()
    mothers = []
    for _ in range(12):
        n = generate_my_number()
        numbers.append(n)
        r = await call(
            "POST",
            "/persons",
            json=person_body(my_number=n, birth_date="1995-01-01", effective_date="2025-01-01"),
            headers=writer,
        )
        assert r.status_code == 201, r.text
        mothers.append(r.json())
    for i, mother in enumerate(mothers[:6]):
        n = generate_my_number()
        numbers.append(n)
        r = await call(
            "POST",
            f"/persons/{mother['person_no']}/births",
            headers=writer,
            json={
                "given_name": f"子{i}",
                "given_name_kana": "コ",
                "sex": "female",
                "birth_date": "2025-06-01",
                "my_number": n,
            },
        )
        assert r.status_code == 201, r.text
    moved_in = person_body(previous_municipality_code="401307", my_number=generate_my_number())
    numbers.append(moved_in["my_number"])
    r = await call("POST", "/persons/move-in", json=moved_in, headers=writer)
    assert r.status_code == 201
    a, b, c, d, e = (m["person_no"] for m in mothers[6:11])
    new_address = mothers[0]["address"] | {"ward_code": YAHATA_NISHI, "block": "5-5"}
    steps: list[tuple[str, str, dict[str, Any]]] = [
        (
            "POST",
            f"/persons/{a}/address-change",
            {"effective_date": "2025-07-01", "address": new_address},
        ),
        (
            "POST",
            f"/persons/{b}/move-out",
            {"effective_date": "2025-07-01", "destination_municipality_code": "401307"},
        ),
        (
            "POST",
            f"/persons/{c}/name-change",
            {"effective_date": "2025-07-01", "family_name": "田中"},
        ),
        ("POST", f"/persons/{d}/death", {"death_date": "2025-07-02"}),
        (
            "PUT",
            f"/persons/{e}/delivery-addresses",
            {
                "effective_date": "2025-07-01",
                "delivery_addresses": [
                    {"purpose": "notice", "address_line": "北九州市", "valid_from": "2025-07-01"}
                ],
            },
        ),
        ("POST", f"/persons/{e}/corrections", {"changes": {"phone": "090-1"}, "reason": "typo"}),
    ]
    replacement = generate_my_number()
    numbers.append(replacement)
    steps += [  # a new number after a leak, then the same request again (no change)
        ("PUT", f"/persons/{e}/my-number", {"my_number": replacement, "reason": "漏えい"}),
        ("PUT", f"/persons/{e}/my-number", {"my_number": replacement}),
    ]
    for method, url, body in steps:
        r = await call(method, url, json=body, headers=writer)
        assert r.status_code == 200, r.text
    # Reads, lookups (found, not found, malformed, unauthorised), and refused registrations.
    for n in numbers[:5]:
        await call(
            "POST",
            "/persons/lookup-by-my-number",
            json={"my_number": n},
            headers=h("atena:mynumber:lookup", "atena:person:read"),
        )
        await call(
            "POST",
            "/persons/lookup-by-my-number",
            json={"my_number": n},
            headers=h("atena:person:read"),
        )
    await call(
        "POST",
        "/persons/lookup-by-my-number",
        json={"my_number": generate_my_number()},
        headers=h("atena:mynumber:lookup"),
    )
    bad = numbers[0][:11] + str((int(numbers[0][11]) + 1) % 10)
    await call("POST", "/persons/lookup-by-my-number", json={"my_number": bad}, headers=writer)
    await call("POST", "/persons/lookup-by-my-number", json={"my_number": 123}, headers=writer)
    r = await call("POST", "/persons", json=person_body(my_number=numbers[1]), headers=writer)
    assert r.status_code == 409
    for m in mothers:
        await call("GET", f"/persons/{m['person_no']}", headers=h("atena:person:read"))
    await call("GET", "/persons", params={"name": "やまだ"}, headers=h("atena:person:read"))
    return numbers, bodies


async def load_extract(settings: Settings, path: Path) -> list[str]:
    """Three residents from the registry's extract, each with a My Number; returns them."""
    numbers = [generate_my_number() for _ in range(3)]
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=HEADER)
        writer.writeheader()
        for i, number in enumerate(numbers):
            writer.writerow(
                dict.fromkeys(HEADER, "")
                | {
                    "external_key": f"DAY{i}",
                    "family_name": "佐藤",
                    "given_name": f"一日{i}",
                    "family_name_kana": "サトウ",
                    "given_name_kana": "イチニチ",
                    "sex": "2",
                    "birth_date": "1990-04-01",
                    "municipality_code": "401005",
                    "ward_code": YAHATA_NISHI,
                    "town": "八幡西区黒崎",
                    "my_number": number,
                }
            )
    report = await cli.load(settings, str(path))  # progress and summary printed, as run
    assert (report.inserted, report.rejected) == (3, 0)
    return numbers


async def all_events(bus: EventBus) -> list[bytes]:
    stream = bus.naming.stream("atena")
    info = await bus.js.stream_info(stream)
    messages = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await bus.js.get_msg(stream, seq)
        messages.append((msg.data or b"") + repr(msg.headers).encode())
    return messages


async def test_a_full_day_leaks_no_my_number(
    committed_client: httpx.AsyncClient,
    committed_sessions: async_sessionmaker[AsyncSession],
    headers: Headers,
    bus: EventBus,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capture = Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        numbers, bodies = await run_day(committed_client, headers)
        numbers += await load_extract(settings, tmp_path / "extract.csv")
        async with committed_sessions() as session:
            outbox = len(await read_outbox(session))
            for _ in range(200):
                pending = (
                    await session.execute(
                        text("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    )
                ).scalar_one()
                await session.rollback()
                if pending == 0:
                    break
                await asyncio.sleep(0.05)
            assert pending == 0, "the relay did not publish everything"
            day_load = text("SELECT person_no FROM person WHERE external_key LIKE 'DAY%'")
            loaded = (await session.execute(day_load)).scalars().all()
    finally:
        root.removeHandler(capture)
        root.setLevel(old_level)

    assert outbox == 12 + 6 + 1 + 6 + 3
    printed = capsys.readouterr()
    assert "3 loaded" in printed.err, "the load's progress was not captured"
    assert my_numbers_in(printed.out + printed.err) == []
    events = await all_events(bus)
    assert len(events) >= outbox
    for person_no in loaded:  # the load's registrations, expanded by the relay, were scanned
        subject = re.compile(rf'"subject"\s*:\s*"{person_no}"')
        assert any(subject.search(e.decode()) for e in events), person_no
    for event in events:
        assert my_numbers_in(event.decode()) == [], "an event carries a My Number"
    assert capture.raw, "nothing was logged: the capture is broken"
    for line in capture.raw:
        assert my_numbers_in(line) == [], "a log line carries a My Number"
    assert "[REDACTED]" not in capture.json.getvalue()
    # Responses: only the holder of atena:mynumber:read sees a number, and nobody did today.
    for body in bodies:
        assert my_numbers_in(body) == []
    assert len(numbers) == 23
