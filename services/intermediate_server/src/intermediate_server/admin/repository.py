"""Statements of system management."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from intermediate_server.admin.models import BatchRun
from intermediate_server.exchange.models import HeldProvision, Inquiry, UsedPermit

_LATEST_RUNS = text("SELECT DISTINCT ON (job) id FROM batch_run ORDER BY job, started_at DESC")
# A municipality's view: the latest run of each job that covered it (its counts name it
# under `by_tenant`), and of the jobs whose counts hold no municipality's data.
_LATEST_RUNS_OF_TENANT = text(
    "SELECT DISTINCT ON (job) id FROM batch_run "
    "WHERE jsonb_exists(counts->'by_tenant', :tenant) OR job = ANY(:shared) "
    "ORDER BY job, started_at DESC"
)
# Provision records per tenant, side, item and outcome (the audit log holds them; its
# row-level security leaves a municipality's transaction only its own).
_STATS = text(
    "SELECT detail->>'tenant' AS tenant, detail->>'side' AS side, item, outcome, count(*) AS n "
    "FROM audit_log, jsonb_array_elements_text(detail->'items') AS item "
    "WHERE action IN ('provision.inquiry', 'provision.provide') "
    "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
)


async def latest_runs(
    session: AsyncSession, *, tenant: str | None, shared_jobs: Sequence[str]
) -> Sequence[BatchRun]:
    """The latest run of each job: of every job (`tenant` None), or as `tenant` may see."""
    if tenant is None:
        ids = (await session.scalars(_LATEST_RUNS)).all()
    else:
        query = {"tenant": tenant, "shared": list(shared_jobs)}
        ids = (await session.scalars(_LATEST_RUNS_OF_TENANT, query)).all()
    if not ids:
        return []
    statement = select(BatchRun).where(BatchRun.id.in_(ids)).order_by(BatchRun.job)
    return (await session.scalars(statement)).all()


async def stats(session: AsyncSession) -> list[tuple[str, str, str, str, int]]:
    return [(r.tenant, r.side, r.item, r.outcome, r.n) for r in (await session.execute(_STATS))]


async def delete_past_retention(
    session: AsyncSession, *, cutoff: datetime, now: datetime
) -> dict[str, int]:
    """The transaction's tenant's rows past retention (RLS scopes each statement)."""
    inquiries = await session.execute(
        delete(Inquiry).where(Inquiry.asked_at < bindparam("c")), {"c": cutoff}
    )
    held = await session.execute(
        delete(HeldProvision).where(
            HeldProvision.status != "held", HeldProvision.held_at < bindparam("c")
        ),
        {"c": cutoff},
    )
    # A permit past its expiry is refused by its signature check anyway.
    permits = await session.execute(
        delete(UsedPermit).where(UsedPermit.expires_at < bindparam("n")), {"n": now}
    )
    return {
        "inquiries": inquiries.rowcount,  # type: ignore[attr-defined]
        "held_provisions": held.rowcount,  # type: ignore[attr-defined]
        "used_permits": permits.rowcount,  # type: ignore[attr-defined]
    }
