"""Command lines refused by a server (mch_common.cli): one line on stderr, a non-zero exit, no
traceback, and nothing a failed statement quoted."""

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from mch_common.cli import EXIT_UNREACHABLE, describe_refusal, exit_on_refusal
from mch_common.db import create_engine

MY_NUMBER = "123456789018"


async def _query(url: str, statement: str) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def _run(prog: str, url: str, statement: str = "SELECT 1") -> None:
    with exit_on_refusal(prog):
        asyncio.run(_query(url, statement))


def test_a_role_the_database_refuses_is_one_line_and_exit_3(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    refused = make_url(database_url).set(username="no_such_role", password=None)
    with pytest.raises(SystemExit) as exited:
        _run("python -m svc.audit verify", refused.render_as_string(hide_password=False))
    assert exited.value.code == EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("python -m svc.audit verify: stopped (the database): ")
    assert 'role "no_such_role" does not exist' in err
    assert "Traceback" not in err


def test_an_unreachable_server_names_the_connection_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        _run("svc-migrate", "postgresql+asyncpg://postgres@127.0.0.1:1/none")
    assert exited.value.code == EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("svc-migrate: stopped")
    assert "Connect call failed" in err or "refused" in err.lower()


def test_a_failed_statement_is_named_by_its_type_alone(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The server's message quotes the value it could not read.
    with pytest.raises(SystemExit):
        _run("svc", database_url, f"SELECT 'x{MY_NUMBER}'::int")
    err = capsys.readouterr().err
    assert err == "svc: stopped (the database): InvalidTextRepresentationError\n"


def test_a_refusal_message_never_holds_a_my_number() -> None:
    refused = asyncpg.InvalidAuthorizationSpecificationError(f'role "u{MY_NUMBER}" is unknown')
    assert MY_NUMBER not in describe_refusal(refused)
    assert describe_refusal(refused).startswith("InvalidAuthorizationSpecificationError: role")


def test_other_errors_are_not_swallowed() -> None:
    with pytest.raises(KeyError), exit_on_refusal("svc"):
        raise KeyError("a bug, with its traceback")
