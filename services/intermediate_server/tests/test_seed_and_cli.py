"""The demo seed (two tenants, Fukuoka's children with checkups, a child ready to move) and the
operators' jobs from the command line."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from intermediate_server import cli
from intermediate_server.config import Settings
from intermediate_server.seed import seed, write_fukuoka_side, write_move_in_body
from intermediate_server.tenancy import enter_tenant
from mch_common.mynumber import is_valid_my_number

from .conftest import FUKUOKA


async def test_the_seed_gives_fukuoka_children_with_checkups_and_a_child_ready_to_move(
    settings: Settings,
    committed_sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mover = await seed(settings)
    again = await seed(settings)  # idempotent

    assert again == mover
    assert is_valid_my_number(str(mover["my_number"]))
    assert mover["previous_municipality_code"] == FUKUOKA
    async with committed_sessions() as session, session.begin():
        tenants = (await session.scalars(text("SELECT code FROM tenant ORDER BY code"))).all()
        await enter_tenant(session, FUKUOKA)
        codes = await session.scalar(text("SELECT count(*) FROM person_code"))
        checkups = await session.scalar(
            text("SELECT count(*) FROM replica_entry WHERE item_no = '95'")
        )
    assert tenants == ["401005", "401307"]
    assert codes == 20
    assert checkups is not None
    assert checkups >= 20
    monkeypatch.setenv("MCH_DEMO_DIR", str(tmp_path))
    written = write_move_in_body(mover)
    assert json.loads(written.read_text(encoding="utf-8")) == mover
    assert written.stat().st_mode & 0o077 == 0
    fukuoka = json.loads(write_fukuoka_side().read_text(encoding="utf-8"))
    assert (fukuoka["tenant"], fukuoka["children"]) == (FUKUOKA, 20)
    async with committed_sessions() as session, session.begin():
        await enter_tenant(session, FUKUOKA)
        mover_checkups = await session.scalar(
            text("SELECT count(*) FROM replica_entry WHERE person_no = :p AND item_no = '95'"),
            {"p": fukuoka["mover"]},
        )
    assert mover_checkups  # the child who moves has her checkups in Fukuoka's replica


async def test_the_jobs_run_from_the_command_line(
    settings: Settings,
    committed_sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("IMS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("IMS_NATS_URL", settings.nats_url)
    monkeypatch.setenv("IMS_EVENT_NAMESPACE", settings.event_namespace)

    # Each job in a thread of its own, as from a shell: the tests' event loop goes on running
    # meanwhile, so a service of an earlier test (its audit sealer holding the chain's lock for
    # a moment) finishes its transaction instead of waiting, frozen, for the retirement job
    # that waits for it.
    async def run(*arguments: str) -> int:
        return await asyncio.to_thread(cli.main, list(arguments))

    assert await run("add-tenant", "401307", "福岡市") == 0
    assert await run("add-tenant", "401300", "not a code") == 2
    assert await run("expire-held") == 0
    assert await run("sync-permission-list") == 0
    assert await run("retention") == 0
    assert await run("retire-records", "--batch-size", "100") == 0

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == {"tenant": "401307"}
    assert lines[1] == {
        "job": "held.expire",
        "tenants": 1,
        "expired": 0,
        "by_tenant": {"401307": {"expired": 0}},
    }
    assert lines[2]["job"] == "permission_list.sync"
    assert lines[2]["rules"] == 2
    assert lines[3]["job"] == "retention.delete"
    # Nothing in this database is 7 years old: the chain verified, nothing retired.
    assert lines[4] == {
        "job": "records.retire",
        "records": 0,
        "batches": 0,
        "through_pos": None,
        "refused": None,
    }


@pytest.mark.parametrize(
    ("command", "code"),
    [(["intermediate_server.audit", "verify"], 3), (["intermediate_server.cli", "expire-held"], 1)],
)
def test_a_database_that_refuses_is_one_line_on_stderr(
    settings: Settings, command: list[str], code: int
) -> None:
    refused = make_url(settings.database_url).set(username="no_such_role", password=None)
    env = os.environ | {
        "IMS_DATABASE_URL": refused.render_as_string(hide_password=False),
        "IMS_NATS_URL": settings.nats_url,
        "IMS_EVENT_NAMESPACE": settings.event_namespace,
    }
    done = subprocess.run(
        [sys.executable, "-m", *command], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"python -m {' '.join(command)}: stopped (the database): ")
    assert 'role "no_such_role" does not exist' in done.stderr
