"""atena as deployed (`python -m mch_common.serve`, a process of its own) crashes inside a
database statement while registering a person with a My Number: every line the process wrote,
uvicorn's included, is JSON and holds no My Number, no bound parameter and no personal field;
the error is logged once, with the correlation id the 500 answer carries too."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from atena.testing import Headers, person_body
from mch_common.mynumber import contains_my_number, generate_my_number
from mch_testing.app import free_port
from mch_testing.plugin import DatabaseFactory

# The backend running the INSERT into person terminates itself: the crash comes from inside
# the statement, as when PostgreSQL drops connections under load.
KILL_ON_INSERT = (
    """
    CREATE FUNCTION crash_inside_statement() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_terminate_backend(pg_backend_pid());
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER crash_inside_statement BEFORE INSERT ON person
        FOR EACH ROW EXECUTE FUNCTION crash_inside_statement()
    """,
)


@pytest.fixture
async def crashing_database(
    database_factory: DatabaseFactory, migrations_path: Path, test_database_name: str
) -> str:
    url = await database_factory.create(f"{test_database_name}_crash", migrations_path)
    engine = create_async_engine(database_factory.owner_url(url))  # a trigger is the owner's
    try:
        async with engine.begin() as conn:
            for statement in KILL_ON_INSERT:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()
    return url


@pytest.fixture
def atena_process(
    crashing_database: str, service_settings: dict[str, Any], tmp_path: Path
) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    """atena under uvicorn in a subprocess; yields its URL, the file of its output (stdout and
    stderr) and the process."""
    port = free_port()
    env = {
        **os.environ,
        **{f"ATENA_{k.upper()}": str(v) for k, v in service_settings.items()},
        "ATENA_DATABASE_URL": crashing_database,
        # Another database: its audit anchors must not land on the session database's subject.
        "ATENA_EVENT_NAMESPACE": f"{service_settings['event_namespace']}_crash",
    }
    output = tmp_path / "atena.out"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mch_common.serve",
                "--factory",
                "atena.main:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "info",  # uvicorn's access lines too
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"atena exited: {output.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"atena did not get ready: {output.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url, output, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


async def test_a_crash_inside_a_statement_leaks_nothing_to_the_output(
    atena_process: tuple[str, Path, subprocess.Popen[bytes]], headers: Headers
) -> None:
    url, output, process = atena_process
    my_number = generate_my_number()
    body = person_body(
        family_name="漏洩",
        given_name="試験子",
        family_name_kana="ロウエイ",
        given_name_kana="シケンコ",
        birth_date="1991-07-23",
        phone="093-555-0147",
        email="roei.shikenko@example.jp",
        my_number=my_number,
    )
    body["address"] |= {"town": "小倉北区漏洩町", "block": "7-31-5", "building": "試験荘203"}
    correlation = f"crash-{uuid.uuid4()}"
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        # A search by kana first: its query string is personal data too.
        search = await client.get(
            "/persons", params={"kana": "ロウエイ"}, headers=headers("atena:person:read")
        )
        assert search.status_code == 200, search.text
        crashed = await client.post(
            "/persons",
            json=body,
            headers={**headers("atena:person:write"), "x-correlation-id": correlation},
        )
    assert crashed.status_code == 500, crashed.text
    assert crashed.headers["x-correlation-id"] == correlation
    assert crashed.json()["correlation_id"] == correlation
    assert crashed.headers["cache-control"] == "no-store"

    personal = [
        body["family_name"],
        body["given_name"],
        body["family_name_kana"],
        body["given_name_kana"],
        body["birth_date"],
        body["phone"],
        body["email"],
        body["address"]["town"],
        body["address"]["block"],
        body["address"]["building"],
    ]
    process.terminate()  # its shutdown lines are scanned too
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert await asyncio.to_thread(process.wait, 30) in (0, -signal.SIGTERM)
    lines = output.read_text(encoding="utf-8").splitlines()
    assert any('"logger": "uvicorn.error"' in line for line in lines), "uvicorn's lines missing"
    assert any('"logger": "uvicorn.access"' in line for line in lines), "access lines missing"
    problems: list[str] = []
    for line in lines:
        if not line.startswith("{"):
            problems.append(f"not a JSON line: {line[:200]}")
        if contains_my_number(line) or "[REDACTED]" in line:
            problems.append(f"a My Number (or the guard had to act): {line[:200]}")
        if "parameters" in line.lower() or "[SQL" in line:
            problems.append(f"a statement or its parameters: {line[:200]}")
        problems += [f"{value!r}: {line[:200]}" for value in personal if value in line]
    assert problems == [], "\n".join(problems)

    entries = [json.loads(line) for line in lines]
    errors = [e for e in entries if "exception" in e]
    assert len(errors) == 1, errors  # logged once
    (error,) = errors
    assert error["correlation_id"] == correlation
    assert error["logger"] == "mch.errors"
    # The crash came from inside the statement: the server's SQLSTATE for a terminated backend.
    assert any(cause.get("sqlstate") == "57P01" for cause in error["exception"]), error
