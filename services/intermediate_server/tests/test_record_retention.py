"""Provision records are kept 7 years, then retired from the oldest (mch_common.audit_retention):
what remains still verifies from the anchored checkpoint; nothing younger than 7 years goes,
not even an older record chained after a younger one; an edit or a deletion among the
remaining records is still named; a checkpoint the anchors never named is refused; the
runtime role can neither shorten the retention nor delete or checkpoint by itself."""

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from intermediate_server.admin import service
from intermediate_server.config import Settings
from intermediate_server.deps import PLATFORM_ADMIN
from intermediate_server.main import create_app
from mch_common.audit import AuditSealer, ChainVerification, read_whole_log, verify_chain
from mch_common.audit_anchor import AuditAnchors
from mch_common.audit_retention import Retired
from mch_common.db import create_engine
from mch_testing.keys import TestKeySet
from mch_testing.plugin import DatabaseFactory

from .conftest import FUKUOKA, KITAKYUSHU

_RECORD = text(
    "INSERT INTO audit_log (occurred_at, actor, action, outcome, target_type, target_id, "
    "purpose, detail, persons) VALUES (:at, 'municipality:401005', 'provision.provide', "
    "'success', 'inquiry', :inquiry, '主務省令第2条の表95の項', CAST(:detail AS jsonb), "
    "ARRAY[CAST(:person AS text)])"
)


@dataclass
class Platform:
    app: FastAPI
    settings: Settings
    owner: AsyncEngine
    keys: TestKeySet

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        sessions: async_sessionmaker[AsyncSession] = self.app.state.sessions
        return sessions

    @property
    def anchors(self) -> AuditAnchors:
        anchors: AuditAnchors = self.app.state.runtime.anchors
        return anchors

    async def record(self, *, age: timedelta, label: str) -> None:
        """A provision record written `age` ago (Fukuoka provided to Kitakyushu)."""
        detail = {"tenant": FUKUOKA, "side": "provider", "items": ["95"], "label": label}
        async with self.sessions() as session, session.begin():
            await session.execute(
                _RECORD,
                {
                    "at": datetime.now(UTC) - age,
                    "inquiry": label,
                    "detail": json.dumps(detail),
                    "person": f"{FUKUOKA}:4013000011",
                },
            )

    async def seal_and_anchor(self) -> None:
        """Every record sealed (by this sealer or the app's, which may hold the lock), then
        the head anchored."""
        sealer = AuditSealer(self.app.state.runtime.engine, anchors=self.anchors)
        while True:
            await sealer.seal_once()
            async with self.sessions() as session:
                await read_whole_log(session)
                unsealed = await session.scalar(
                    text("SELECT count(*) FROM audit_log WHERE hash IS NULL")
                )
            if not unsealed:
                break
            await asyncio.sleep(0.05)
        await sealer.anchor()

    async def verify(self) -> ChainVerification:
        async with self.sessions() as session:
            return await verify_chain(session, anchor=await self.anchors.latest())

    async def labels(self) -> list[str]:
        async with self.sessions() as session:
            await read_whole_log(session)
            rows = await session.scalars(
                text(
                    "SELECT target_id FROM audit_log WHERE chain_pos IS NOT NULL ORDER BY chain_pos"
                )
            )
            return [str(r) for r in rows]

    async def as_owner(self, statement: str, **params: Any) -> None:
        """An attacker with the owner's rights: past the trigger and the tenant wall."""
        async with self.owner.begin() as conn:
            await read_whole_log(conn)
            await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            await conn.execute(text(statement), params)
            await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))


YEAR = timedelta(days=366)
OLD = 8 * YEAR
YOUNG = timedelta(days=7 * 365)  # under 7 calendar years (those hold one or two 29 Februaries)


@pytest.fixture
async def platform(
    database_factory: DatabaseFactory,
    migrations_path: Path,
    test_database_name: str,
    service_settings: dict[str, Any],
    jwt_keys: TestKeySet,
) -> AsyncIterator[Platform]:
    # A database and anchors of its own: the chain starts with the records the test writes.
    suffix = secrets.token_hex(3)
    url = await database_factory.create(f"{test_database_name}_retire_{suffix}", migrations_path)
    namespace = f"{service_settings['event_namespace']}_retire{suffix}"
    settings = Settings(**{**service_settings, "database_url": url, "event_namespace": namespace})
    app = create_app(settings, with_consumers=False)
    owner = create_engine(database_factory.owner_url(url), pool_size=1)
    try:
        async with app.router.lifespan_context(app):
            yield Platform(app=app, settings=settings, owner=owner, keys=jwt_keys)
    finally:
        await owner.dispose()


async def old_chain(platform: Platform) -> None:
    """Five records 8 years old, one just under 7 years old, then another 8 years old
    (chained after the younger one), then one of today; sealed and anchored."""
    for n in range(5):
        await platform.record(age=OLD, label=f"old-{n}")
    await platform.record(age=YOUNG, label="young")
    await platform.record(age=OLD, label="old-after-young")
    await platform.record(age=timedelta(0), label="today")
    await platform.seal_and_anchor()
    assert (await platform.verify()).ok


async def test_retiring_keeps_the_rest_verifiable_and_nothing_younger_than_7_years_goes(
    platform: Platform,
) -> None:
    await old_chain(platform)
    progress: list[tuple[int, int]] = []

    def report(batch: Retired, total: int) -> None:
        progress.append((batch.through_pos, total))

    run = await service.retire_records(
        platform.sessions,
        platform.anchors,
        retention_years=7,
        actor="batch:test",
        batch_size=2,
        progress=report,
    )

    assert run.job == "records.retire"
    assert run.counts == {"records": 5, "batches": 3, "through_pos": 5, "refused": None}
    assert progress == [(2, 2), (4, 4), (5, 5)]  # batch by batch, from the oldest
    # The younger record stops the run: the older one chained after it stays too.
    assert await platform.labels() == ["young", "old-after-young", "today"]
    await platform.seal_and_anchor()  # the retirements' own records join the chain
    verified = await platform.verify()
    assert verified.ok, verified
    assert verified.retired_through == 5
    # Each batch's retirement is a record of its own, named by its last retired position.
    assert await platform.labels() == ["young", "old-after-young", "today", "2", "4", "5"]
    async with platform.sessions() as session:
        await read_whole_log(session)
        retirements = (
            await session.execute(
                text(
                    "SELECT detail->>'through_pos', detail->>'retired' FROM audit_log "
                    "WHERE action = 'audit.retire' ORDER BY seq"
                )
            )
        ).all()
        checkpoint = (
            await session.execute(
                text("SELECT chain_pos, retired FROM audit_checkpoint ORDER BY chain_pos DESC")
            )
        ).first()
    assert [tuple(r) for r in retirements] == [("2", "2"), ("4", "2"), ("5", "1")]
    assert checkpoint is not None
    assert tuple(checkpoint) == (5, 1)

    # Again: nothing is past retention before the younger record.
    again = await service.retire_records(
        platform.sessions, platform.anchors, retention_years=7, actor="batch:test"
    )
    assert again.counts["records"] == 0


async def test_an_edit_or_a_deletion_after_a_retirement_is_still_detected(
    platform: Platform,
) -> None:
    await old_chain(platform)
    await service.retire_records(
        platform.sessions, platform.anchors, retention_years=7, actor="batch:test"
    )
    await platform.seal_and_anchor()
    assert (await platform.verify()).ok

    # An edit of a remaining record: named, and no retirement runs over a broken chain.
    await platform.as_owner(
        "UPDATE audit_log SET detail = jsonb_set(detail, '{items}', '[]') WHERE chain_pos = 7"
    )
    edited = await platform.verify()
    assert (edited.ok, edited.first_broken_pos) == (False, 7)
    refused = await service.retire_records(
        platform.sessions, platform.anchors, retention_years=7, actor="batch:test"
    )
    assert refused.counts["records"] == 0
    assert str(refused.counts["refused"]).startswith("the chain does not verify")

    # A deletion in the middle of what remains.
    await platform.as_owner("DELETE FROM audit_log WHERE chain_pos = 7")
    deleted = await platform.verify()
    assert (deleted.ok, deleted.first_broken_pos) == (False, 7)


async def test_a_checkpoint_no_anchor_named_is_refused(platform: Platform) -> None:
    await old_chain(platform)
    # The owner deletes the oldest records, the younger one too, and writes a checkpoint
    # that makes the rest link up: the anchors never named it.
    async with platform.owner.begin() as conn:
        await read_whole_log(conn)
        await conn.execute(
            text(
                "INSERT INTO audit_checkpoint (chain_pos, hash, occurred_at, retired, cutoff) "
                "SELECT chain_pos, hash, occurred_at, 6, now() FROM audit_log WHERE chain_pos = 6"
            )
        )
        await conn.execute(text("DELETE FROM audit_log WHERE chain_pos <= 6"))

    forged = await platform.verify()

    assert not forged.ok
    assert "without a published retention checkpoint" in str(forged.reason)


async def test_the_runtime_role_cannot_shorten_the_retention_or_retire_by_itself(
    platform: Platform,
) -> None:
    await old_chain(platform)
    async with platform.sessions() as session:
        for statement in (
            "SELECT * FROM audit_retire(make_interval(years => 6), 10)",
            "DELETE FROM audit_log WHERE chain_pos = 1",
            "INSERT INTO audit_checkpoint (chain_pos, hash, occurred_at, retired, cutoff) "
            "VALUES (1, 'x', now(), 1, now())",
            "UPDATE audit_retention SET min_age = interval '1 day'",
        ):
            async with session.begin():
                await read_whole_log(session)
                with pytest.raises(DBAPIError, match=r"kept at least|permission denied"):
                    await session.execute(text(statement))
            await session.rollback()
    assert (await platform.labels())[:5] == [f"old-{n}" for n in range(5)]


async def test_the_platform_operator_retires_through_the_endpoint(platform: Platform) -> None:
    await old_chain(platform)
    token = platform.keys.mint(sub="ims-operator", scopes=(PLATFORM_ADMIN,), tenant=KITAKYUSHU)
    transport = httpx.ASGITransport(app=platform.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ims") as client:
        answer = await client.post(
            "/admin/system/records/retire", headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["counts"]["records"] == 5
    await platform.seal_and_anchor()
    assert (await platform.verify()).ok
