"""The batch CLI as cron or a CronJob runs it: a subprocess, exit codes, JSON on stdout."""

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# The seeded checkup programmes (restored if a committed test emptied them).
pytestmark = pytest.mark.usefixtures("programmes")


async def cli(*args: str, database_url: str) -> tuple[int, str, str]:
    env = os.environ | {"BOSHI_DATABASE_URL": database_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "boshi_core.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_bad_month_is_a_usage_error(database_url: str) -> None:
    code, _, err = await cli(
        "extract", "--programme", "4m", "--month", "2026-13", database_url=database_url
    )
    assert code == 2
    assert "month must look like 2026-12" in err


async def test_unreachable_database_exits_3(database_url: str) -> None:
    missing = database_url.rsplit("/", 1)[0] + "/no_such_database_here"
    code, _, err = await cli("extract", "--all", "--month", "2031-01", database_url=missing)
    assert code == 3
    assert "database not usable" in err


async def test_extract_and_remind_commands(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    try:
        code, out, err = await cli(
            "extract", "--all", "--month", "2031-01", database_url=database_url
        )
        assert code == 0, err
        result = json.loads(out)
        assert [r["programme"] for r in result["results"]] == ["4m", "7m", "1y6m", "3y"]
        assert "extract 4m 2031-01:" in err

        code, out, err = await cli(
            "remind", "--month", "2031-01", "--out", str(tmp_path), database_url=database_url
        )
        assert code == 0, err
        assert json.loads(out)["status"] == "completed"
        assert (tmp_path / "reminders_203101.csv").exists()
        code, out, err = await cli(
            "remind", "--month", "2031-01", "--out", str(tmp_path), database_url=database_url
        )
        assert code == 0, err
        assert json.loads(out)["letters_this_attempt"] == 0
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM reminder_runs WHERE period = '2031-01-01'"))
