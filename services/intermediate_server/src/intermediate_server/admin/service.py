"""System management: batch jobs and their status, statistics, health, retention.

A municipality's system administrator (`ims:system:admin`) sees and runs them for its own
municipality; the platform operator (`ims:platform:admin`) for every one, and alone syncs
the permission list and retires provision records. `tenant` None is the platform's view."""

from collections.abc import Awaitable, Callable
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
from mch_common.audit_anchor import AuditAnchors
from mch_common.audit_retention import Retired, retire_past_retention
from mch_common.dates import today_tokyo
from mch_common.db import insert_new, unit_of_work
from mch_common.ids import uuid7

KEY_EXPIRY_WARNING = timedelta(days=30)
PERMISSION_LIST_SYNC = "permission_list.sync"
HELD_EXPIRE = "held.expire"
RETENTION_DELETE = "retention.delete"
RECORDS_RETIRE = "records.retire"
# Jobs whose counts hold no municipality's data: every system administrator sees them.
SHARED_JOBS = (PERMISSION_LIST_SYNC,)


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

    return await _run(sessions, PERMISSION_LIST_SYNC, work)


async def expire_held(
    sessions: async_sessionmaker[AsyncSession], *, tenant: str | None = None
) -> BatchRun:
    async def work() -> dict[str, Any]:
        result = await approval.expire_overdue(sessions, only=tenant)
        by_tenant = {t: {"expired": n} for t, n in result.by_tenant.items()}
        return {"tenants": result.tenants, "expired": result.expired, "by_tenant": by_tenant}

    return await _run(sessions, HELD_EXPIRE, work)


async def delete_past_retention(
    sessions: async_sessionmaker[AsyncSession],
    *,
    retention_years: int,
    tenant: str | None = None,
) -> BatchRun:
    async def work() -> dict[str, Any]:
        now = datetime.now(UTC)
        cutoff = now - timedelta(days=round(365.25 * retention_years))
        totals: dict[str, int] = {}
        by_tenant: dict[str, dict[str, int]] = {}
        async with unit_of_work(sessions) as session:
            tenants = [tenant] if tenant else await tenant_codes(session)
        for code in tenants:
            async with unit_of_work(sessions) as session:
                await enter_tenant(session, code)
                deleted = await repository.delete_past_retention(session, cutoff=cutoff, now=now)
            by_tenant[code] = deleted
            for name, n in deleted.items():
                totals[name] = totals.get(name, 0) + n
        return {"tenants": len(tenants), **totals, "by_tenant": by_tenant}

    return await _run(sessions, RETENTION_DELETE, work)


async def retire_records(
    sessions: async_sessionmaker[AsyncSession],
    anchors: AuditAnchors | None,
    *,
    retention_years: int,
    actor: str,
    batch_size: int = 5000,
    progress: Callable[[Retired, int], None] | None = None,
) -> BatchRun:
    """Retire the provision records (and the other audit records) older than the retention
    period, from the oldest, leaving the chain verifiable (mch_common.audit_retention)."""

    async def work() -> dict[str, Any]:
        done = await retire_past_retention(
            sessions,
            anchors,
            retention_years=retention_years,
            actor=actor,
            batch_size=batch_size,
            progress=progress,
        )
        return {
            "records": done.records,
            "batches": done.batches,
            "through_pos": done.through_pos,
            "refused": done.refused,
        }

    return await _run(sessions, RECORDS_RETIRE, work)


async def batch_status(session: AsyncSession, *, tenant: str | None) -> list[BatchRun]:
    """The latest run of each job; for a municipality, only its own part of each run."""
    runs = await repository.latest_runs(session, tenant=tenant, shared_jobs=SHARED_JOBS)
    if tenant is None:
        return list(runs)
    return [
        BatchRun(
            id=run.id,
            job=run.job,
            started_at=run.started_at,
            finished_at=run.finished_at,
            counts=run.counts["by_tenant"][tenant] if "by_tenant" in run.counts else run.counts,
        )
        for run in runs
    ]


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
