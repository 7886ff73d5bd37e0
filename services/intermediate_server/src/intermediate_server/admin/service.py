"""System management: batch jobs and their status, statistics, health, retention."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from national_hub.hub import NationalHub
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from intermediate_server.admin import repository
from intermediate_server.admin.models import BatchRun
from intermediate_server.exchange import approval
from intermediate_server.exchange import repository as exchange
from intermediate_server.tenancy import enter_tenant, tenant_codes
from mch_common.dates import today_tokyo
from mch_common.db import insert_new, unit_of_work
from mch_common.ids import uuid7

KEY_EXPIRY_WARNING = timedelta(days=30)


@dataclass(frozen=True)
class Health:
    ok: bool
    permission_list_version: int | None
    hub_list_version: int | None
    permission_rules_in_force: int
    signing_key_id: str
    signing_key_expires_at: datetime
    signing_key_days_left: int
    problems: list[str]


async def _run(
    sessions: async_sessionmaker[AsyncSession],
    job: str,
    work: Callable[[], Awaitable[dict[str, Any]]],
) -> BatchRun:
    started = datetime.now(UTC)
    counts = await work()
    run = BatchRun(
        id=uuid7(), job=job, started_at=started, finished_at=datetime.now(UTC), counts=counts
    )
    async with unit_of_work(sessions) as session:
        await insert_new(session, run)
    return run


async def sync_permission_list(
    sessions: async_sessionmaker[AsyncSession], hub: NationalHub
) -> BatchRun:
    """Replace the gateway's copy of the permission list with the hub's current one."""

    async def work() -> dict[str, Any]:
        rules = await hub.permission_list(None)
        async with unit_of_work(sessions) as session:
            await exchange.replace_permission_copy(session, rules)
        return {
            "rules": len(rules),
            "list_version": max((r.list_version for r in rules), default=None),
        }

    return await _run(sessions, "permission_list.sync", work)


async def expire_held(sessions: async_sessionmaker[AsyncSession]) -> BatchRun:
    async def work() -> dict[str, Any]:
        result = await approval.expire_overdue(sessions)
        return {"tenants": result.tenants, "expired": result.expired}

    return await _run(sessions, "held.expire", work)


async def delete_past_retention(
    sessions: async_sessionmaker[AsyncSession], *, retention_years: int
) -> BatchRun:
    async def work() -> dict[str, Any]:
        now = datetime.now(UTC)
        cutoff = now - timedelta(days=round(365.25 * retention_years))
        totals: dict[str, int] = {}
        async with unit_of_work(sessions) as session:
            tenants = await tenant_codes(session)
        for tenant in tenants:
            async with unit_of_work(sessions) as session:
                await enter_tenant(session, tenant)
                for name, n in (
                    await repository.delete_past_retention(session, cutoff=cutoff, now=now)
                ).items():
                    totals[name] = totals.get(name, 0) + n
        return {"tenants": len(tenants), **totals}

    return await _run(sessions, "retention.delete", work)


async def batch_status(session: AsyncSession) -> Sequence[BatchRun]:
    return await repository.latest_runs(session)


async def stats(session: AsyncSession) -> list[dict[str, Any]]:
    return [
        {"tenant": t, "side": s, "item_no": i, "outcome": o, "count": n}
        for t, s, i, o, n in await repository.stats(session)
    ]


async def health(session: AsyncSession, *, hub: NationalHub) -> Health:
    today = today_tokyo()
    in_force = await exchange.rules_on(session, today)
    copy_version = await exchange.list_version(session)
    hub_rules = await hub.permission_list(None)
    hub_version = max((r.list_version for r in hub_rules), default=None)
    expires_at = hub.signing_key_expires_at
    days_left = (expires_at - datetime.now(UTC)).days
    problems = []
    if copy_version is None or copy_version != hub_version:
        problems.append("the permission list copy is not the hub's current version")
    if not in_force:
        problems.append("no permission rule is in force today")
    if expires_at - datetime.now(UTC) < KEY_EXPIRY_WARNING:
        problems.append("the hub's signing key expires within 30 days")
    return Health(
        ok=not problems,
        permission_list_version=copy_version,
        hub_list_version=hub_version,
        permission_rules_in_force=len(in_force),
        signing_key_id=hub.signing_key_id,
        signing_key_expires_at=expires_at,
        signing_key_days_left=days_left,
        problems=problems,
    )
