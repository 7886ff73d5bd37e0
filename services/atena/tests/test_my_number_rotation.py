"""My Number key rotation: after a change of the encryption key and of the blind index key,
`rotate-my-numbers` leaves no row under an old key, every number decrypts and is found, a
killed run finishes when started again, and no lookup misses while the run is going."""

import asyncio
import base64
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atena import cli
from atena.config import Settings
from atena.main import create_app
from atena.mynumber.rotation import (
    RotationProgress,
    count_rows_under_old_keys,
    rotate_my_numbers,
)
from atena.persons.models import PersonMyNumber
from atena.testing import Headers, person_body
from mch_common.mynumber import EncryptedMyNumber, contains_my_number, generate_my_number

from .test_bulk import line, write_csv

NEW_KEY = base64.b64encode(b"rotation-test-atena-myno-key-002").decode()
NEW_INDEX_KEY = base64.b64encode(b"rotation-test-atena-blind-idx-02").decode()


def rotated(settings: Settings, *, during_rekeying: bool = True) -> dict[str, str]:
    """The settings after the key change: k2 encrypts, ix2 indexes; the old encryption key
    stays to decrypt, the old index key stays while the run re-keys the index."""
    changed = {
        "my_number_keys": f"{settings.my_number_keys},k2:{NEW_KEY}",
        "my_number_current_key_id": "k2",
        "my_number_index_key": f"ix2:{NEW_INDEX_KEY}",
    }
    if during_rekeying:
        changed["my_number_previous_index_key"] = settings.my_number_index_key
    return changed


async def load_people(
    settings: Settings, owner_database_url: str, tmp_path: Path, count: int
) -> list[str]:
    """People with My Numbers, written under the old keys by a bulk load (run as the owner,
    as an operator runs the initial load: it drops and rebuilds indexes)."""
    settings = settings.model_copy(update={"database_url": owner_database_url})
    numbers = [generate_my_number() for _ in range(count)]
    rows = [
        line(external_key=f"R{i:05d}", my_number=n, given_name=f"花子{i}", household_key="")
        for i, n in enumerate(numbers)
    ]
    path = tmp_path / "people.csv"
    write_csv(path, rows)
    report = await cli.load(settings, str(path), quiet=True, emit_events=False)
    assert report.inserted == count
    return numbers


async def stored(sessions: async_sessionmaker[AsyncSession]) -> list[PersonMyNumber]:
    async with sessions() as session:
        return list((await session.execute(select(PersonMyNumber))).scalars().all())


async def assert_all_under_new_keys(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, numbers: list[str]
) -> None:
    vault = settings.vault
    rows = await stored(sessions)
    assert {(r.key_id, r.index_key_id) for r in rows} == {("k2", "ix2")}
    decrypted = {
        vault.decrypt(EncryptedMyNumber(r.key_id, r.ciphertext), aad=r.person_no.encode())
        for r in rows
    }
    assert decrypted == set(numbers)
    assert {r.blind_index for r in rows} == {vault.blind_index(n) for n in numbers}


@pytest.fixture
async def rekeying_app(
    service_settings: dict[str, Any], settings: Settings
) -> AsyncIterator[FastAPI]:
    application = create_app(Settings(**{**service_settings, **rotated(settings)}))
    async with application.router.lifespan_context(application):
        yield application


async def test_lookups_during_the_rekeying_never_miss_and_the_run_leaves_no_old_key(
    tmp_path: Path,
    settings: Settings,
    service_settings: dict[str, Any],
    rekeying_app: FastAPI,
    owner_database_url: str,
    committed_sessions: async_sessionmaker[AsyncSession],
    headers: Headers,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    numbers = await load_people(settings, owner_database_url, tmp_path, 120)
    new_settings: Settings = rekeying_app.state.settings
    assert await count_rows_under_old_keys(committed_sessions, new_settings.vault) == 120

    reports: list[RotationProgress] = []
    misses: list[int] = []
    lookups_while_mixed = 0
    transport = httpx.ASGITransport(app=rekeying_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        # Before the run every index is under the old key: a registration still sees the holder.
        taken = await client.post(
            "/persons", json=person_body(my_number=numbers[0]), headers=headers()
        )
        assert taken.status_code == 409

        async def look_up(i: int) -> None:
            response = await client.post(
                "/persons/lookup-by-my-number",
                json={"my_number": numbers[i % len(numbers)]},
                headers=headers("atena:mynumber:lookup"),
            )
            if response.status_code != 200:
                misses.append(i)

        run = asyncio.create_task(
            rotate_my_numbers(
                committed_sessions, new_settings.vault, batch_size=3, progress=reports.append
            )
        )
        i = 0
        while not run.done():
            mixed = bool(reports) and reports[-1].done < reports[-1].total
            await look_up(i)
            lookups_while_mixed += mixed
            i += 1
        result = await run

    assert misses == []
    assert lookups_while_mixed > 0
    assert result.done == result.total == 120
    assert [r.done for r in reports] == sorted(r.done for r in reports)
    await assert_all_under_new_keys(committed_sessions, new_settings, numbers)
    nothing_left = await rotate_my_numbers(committed_sessions, new_settings.vault)
    assert (nothing_left.done, nothing_left.total) == (0, 0)

    # After the run the previous index key goes: every number is still found.
    final = create_app(Settings(**{**service_settings, **rotated(settings, during_rekeying=False)}))
    async with (
        final.router.lifespan_context(final),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=final), base_url="http://testserver"
        ) as client,
    ):
        for number in numbers[:20]:
            response = await client.post(
                "/persons/lookup-by-my-number",
                json={"my_number": number},
                headers=headers("atena:mynumber:lookup"),
            )
            assert response.status_code == 200

    written = capsys.readouterr()
    for text in (written.out, written.err, caplog.text):
        assert not contains_my_number(text)


async def test_a_killed_run_started_again_finishes_cleanly(
    tmp_path: Path,
    settings: Settings,
    service_settings: dict[str, Any],
    owner_database_url: str,
    committed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    numbers = await load_people(settings, owner_database_url, tmp_path, 3000)
    new_settings = Settings(**{**service_settings, **rotated(settings)})
    env = {
        **os.environ,
        "ATENA_DATABASE_URL": settings.database_url,
        "ATENA_ENVIRONMENT": "test",
        **{f"ATENA_{name.upper()}": value for name, value in rotated(settings).items()},
    }
    command = ["-m", "atena.cli", "rotate-my-numbers", "--batch-size", "5"]

    async def start() -> asyncio.subprocess.Process:
        pipe = asyncio.subprocess.PIPE
        return await asyncio.create_subprocess_exec(
            sys.executable, *command, env=env, stdout=pipe, stderr=pipe
        )

    first = await start()
    deadline = time.monotonic() + 60
    left = 3000
    while left == 3000 and time.monotonic() < deadline and first.returncode is None:
        await asyncio.sleep(0.02)
        left = await count_rows_under_old_keys(committed_sessions, new_settings.vault)
    first.send_signal(signal.SIGKILL)
    first_out, first_err = await first.communicate()
    left = await count_rows_under_old_keys(committed_sessions, new_settings.vault)
    assert 0 < left < 3000, "the run was not killed midway"

    again = await start()
    again_out, again_err = await asyncio.wait_for(again.communicate(), timeout=120)
    assert again.returncode == 0, again_err.decode()
    assert f'"rewritten": {left}' in again_out.decode()
    assert f"{left}/{left} rows (100.0 %)" in again_err.decode()
    assert await count_rows_under_old_keys(committed_sessions, new_settings.vault) == 0
    await assert_all_under_new_keys(committed_sessions, new_settings, numbers)
    for output in (first_out, first_err, again_out, again_err):
        assert not contains_my_number(output.decode())


def test_a_rekeying_needs_two_labelled_index_keys(
    service_settings: dict[str, Any], settings: Settings
) -> None:
    same_label = {**rotated(settings), "my_number_index_key": f"dev-only:{NEW_INDEX_KEY}"}
    with pytest.raises(ValueError, match="distinct labels"):
        _ = Settings(**{**service_settings, **same_label}).vault
