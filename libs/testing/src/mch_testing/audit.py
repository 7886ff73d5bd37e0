"""The tampering test every service runs on its own migrated database: the service writes and
anchors its audit chain (the real sealer, anchoring at shutdown), then an attacker with the
owner's rights edits a record and deletes the newest ones; the operators' verifier
(`mch_common.audit_cli.verify`, as `python -m <svc>.audit verify` runs it) names the first bad
record each time. Also the auditor's endpoints' shared check: the chain verifies, and
neither endpoint answers without the audit scope."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mch_common.audit import WHOLE_LOG_SETTING, read_whole_log
from mch_common.audit_cli import verify
from mch_common.db import create_engine, unit_of_work
from mch_common.settings import ServiceSettings
from mch_common.work import UnitOfWork

RECORDS = 6


async def _as_attacker(owner: AsyncEngine, statement: str, **params: Any) -> None:
    """The owner may switch the append-only trigger off (and read past a tenant wall); the
    runtime role may not."""
    async with owner.begin() as conn:
        await conn.execute(text(f"SELECT set_config('{WHOLE_LOG_SETTING}', 'on', true)"))
        await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        await conn.execute(text(statement), params)
        await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))


@dataclass(frozen=True)
class TamperingDatabase:
    """A freshly migrated database of the service's own (the `tampering_database` fixture):
    the service settings on it and the owner's URL that the attacker uses."""

    settings: dict[str, Any]  # its own event namespace too: a service anchors once per namespace
    owner_url: str

    async def check_detected(
        self, create_app: Callable[[Any], FastAPI], settings: ServiceSettings
    ) -> None:
        """`settings`: the service's own, made from `self.settings`."""
        await check_audit_tampering_is_detected(
            create_app=create_app, settings=settings, owner_url=self.owner_url
        )


def tampering_settings(
    service_settings: dict[str, Any], database_url: str, suffix: str = "_tamper"
) -> dict[str, Any]:
    """Settings for a service on a database of its own: its own event namespace too, since a
    service's anchors are one per namespace (inside the session's, deleted with it)."""
    namespace = f"{service_settings['event_namespace']}{suffix}"
    return {**service_settings, "database_url": database_url, "event_namespace": namespace}


async def check_audit_tampering_is_detected(
    *, create_app: Callable[[Any], FastAPI], settings: ServiceSettings, owner_url: str
) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        for i in range(RECORDS):
            async with unit_of_work(app.state.runtime.sessions) as session:
                UnitOfWork.of(session).record(
                    actor="staff-0001", action="test.tamper", target_id=f"100000{i:04d}"
                )
    # Shutting down sealed the records and anchored the head.
    intact = await verify(settings)
    assert intact.ok, intact
    assert intact.anchor is not None
    head = intact.anchor.chain_pos
    assert intact.checked == head >= RECORDS

    owner = create_engine(owner_url, pool_size=1)
    try:
        async with owner.connect() as conn:
            await read_whole_log(conn)
            edited_seq, original = (
                await conn.execute(
                    text("SELECT seq, target_id FROM audit_log WHERE chain_pos = :pos"),
                    {"pos": head - 3},
                )
            ).one()
        await _as_attacker(
            owner, "UPDATE audit_log SET target_id = '9999999999' WHERE seq = :seq", seq=edited_seq
        )
        rewritten = await verify(settings)
        assert not rewritten.ok
        assert (rewritten.first_broken_seq, rewritten.first_broken_pos) == (edited_seq, head - 3)
        assert rewritten.reason == "record content does not match its hash"

        await _as_attacker(
            owner,
            "UPDATE audit_log SET target_id = :original WHERE seq = :seq",
            seq=edited_seq,
            original=original,
        )
        assert (await verify(settings)).ok

        await _as_attacker(owner, "DELETE FROM audit_log WHERE chain_pos > :pos", pos=head - 2)
        truncated = await verify(settings)
        assert not truncated.ok
        assert truncated.checked == head - 2
        assert (truncated.first_broken_seq, truncated.first_broken_pos) == (None, head - 1)
        assert truncated.reason is not None
        assert "missing" in truncated.reason
    finally:
        await owner.dispose()


AUDIT_PATHS = ("/admin/audit", "/admin/audit/verify")


async def check_the_chain_verifies_for_auditors_only(
    client: httpx.AsyncClient, *, auditor: dict[str, str], unscoped: dict[str, str]
) -> None:
    """The chain verifies for `auditor` (headers with the audit scope), and both endpoints
    refuse `unscoped` (a valid token without it)."""
    verified = await client.get("/admin/audit/verify", headers=auditor)
    assert verified.status_code == 200, verified.text
    assert verified.json()["ok"] is True
    for path in AUDIT_PATHS:
        assert (await client.get(path, headers=unscoped)).status_code == 403, path
