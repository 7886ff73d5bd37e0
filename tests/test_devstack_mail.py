"""`make run` (tools/devstack.py) without a mail server: a sink of the run takes
e_application's result notices and keeps each one as an .eml file; with one configured or
already listening, the run leaves it alone."""

import contextlib
import smtplib
import socket
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import ModuleType

import pytest

from mch_testing.embedded import free_port


def test_without_a_mail_server_the_run_keeps_each_notice(
    devstack: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(devstack, "DEVSTACK", tmp_path)
    port = free_port()
    monkeypatch.delenv("EAPP_SMTP_HOST", raising=False)
    monkeypatch.setenv("EAPP_SMTP_PORT", str(port))
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "city@example.jp", "a@example.jp", "結果"
    message.set_content("受付番号: EA2026-0000001")
    with contextlib.ExitStack() as stack:
        where = devstack.resolve_mail(stack)
        assert f"127.0.0.1:{port}" in where
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(message)
        kept = list((tmp_path / "mail").glob("*.eml"))
    assert len(kept) == 1
    assert kept[0].stat().st_mode & 0o077 == 0  # owner-only: a notice names its applicant
    kept_message = BytesParser(policy=policy.default).parsebytes(kept[0].read_bytes())
    assert kept_message["To"] == "a@example.jp"
    body = kept_message.get_body()
    assert body is not None
    assert "受付番号: EA2026-0000001" in body.get_content()


def test_a_configured_or_listening_mail_server_is_used_as_it_is(
    devstack: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(devstack, "DEVSTACK", tmp_path)
    monkeypatch.setenv("EAPP_SMTP_HOST", "mail.example.jp")
    monkeypatch.setenv("EAPP_SMTP_PORT", "2525")
    with contextlib.ExitStack() as stack:
        assert devstack.resolve_mail(stack) == "mail.example.jp:2525 (from EAPP_SMTP_HOST)"
    monkeypatch.delenv("EAPP_SMTP_HOST")
    with socket.create_server(("127.0.0.1", 0)) as listening:
        monkeypatch.setenv("EAPP_SMTP_PORT", str(listening.getsockname()[1]))
        with contextlib.ExitStack() as stack:
            assert devstack.resolve_mail(stack).endswith("(local)")
    assert not (tmp_path / "mail").exists()  # no sink was started
