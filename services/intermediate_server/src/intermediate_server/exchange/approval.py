"""自動応答不可: items held by the provider until its staff approve or refuse them, refused
when their deadline passes. The decision is routed back to the requester's inquiry."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from intermediate_server import events
from intermediate_server.exchange import repository
from intermediate_server.exchange.models import HeldProvision
from intermediate_server.exchange.provider import PROVIDED, REFUSED, SUSPENDED, records_of
from intermediate_server.exchange.service import inquiry_status
from intermediate_server.records.service import ProvisionFacts, write_record
from intermediate_server.replica import repository as replica
from intermediate_server.suspensions.service import SUSPENDED_REASON, is_suspended
from intermediate_server.tenancy import enter_tenant, tenant_codes
from mch_common.auth.principal import Principal
from mch_common.db import unit_of_work
from mch_common.errors import Conflict, NotFound
from mch_common.work import UnitOfWork

Decision = Literal["approve", "refuse"]
NO_HELD = "no such held provision"
DEADLINE_PASSED = "the deadline for staff confirmation passed"


@dataclass(frozen=True)
class Expired:
    tenants: int
    expired: int
    by_tenant: dict[str, int]


async def held_provisions(
    session: AsyncSession, *, principal: Principal, limit: int
) -> Sequence[HeldProvision]:
    held = await repository.held_provisions(session, limit=limit)
    UnitOfWork.of(session).record_access(
        principal,
        action="held_provision.list",
        target_type="held_provision",
        detail={"tenant": principal.tenant, "count": len(held)},
        persons=[f"{principal.tenant}:{h.person_no}" for h in held],
    )
    return held


async def decide(
    session: AsyncSession,
    *,
    principal: Principal,
    sessions: async_sessionmaker[AsyncSession],
    held_id: uuid.UUID,
    decision: Decision,
) -> HeldProvision:
    """Approve or refuse; past the deadline the item is refused whatever the decision."""
    held = await session.get(HeldProvision, held_id, with_for_update=True)
    if held is None:
        raise NotFound(NO_HELD)
    if held.status != "held":
        raise Conflict(f"the provision was decided already ({held.status})")
    now = datetime.now(UTC)
    if now >= held.deadline:
        status = "expired"
    else:
        status = "approved" if decision == "approve" else "refused"
    await _settle(
        session,
        sessions,
        held,
        status=status,
        now=now,
        by=principal.sub,
        terminal=principal.terminal,
    )
    return held


async def expire_overdue(
    sessions: async_sessionmaker[AsyncSession], *, only: str | None = None
) -> Expired:
    """Refuse every held item whose deadline passed, tenant by tenant (the scheduled job);
    `only` one municipality (its own system administrator's run)."""
    async with unit_of_work(sessions) as session:
        tenants = [only] if only else await tenant_codes(session)
    expired = 0
    by_tenant = dict.fromkeys(tenants, 0)
    for tenant in tenants:
        async with unit_of_work(sessions) as session:
            await enter_tenant(session, tenant)
            now = datetime.now(UTC)
            for held in await repository.overdue_held(session, now):
                await _settle(
                    session,
                    sessions,
                    held,
                    status="expired",
                    now=now,
                    by="system:deadline",
                    terminal=None,
                )
                expired += 1
                by_tenant[tenant] += 1
    return Expired(tenants=len(tenants), expired=expired, by_tenant=by_tenant)


async def _settle(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    held: HeldProvision,
    *,
    status: str,
    now: datetime,
    by: str,
    terminal: str | None,
) -> None:
    await repository.mark_decided(session, held, status=status, at=now, by=by)
    reason = (
        None
        if status == "approved"
        else (DEADLINE_PASSED if status == "expired" else "refused by the provider's staff")
    )
    answer: dict[str, dict[str, Any]] = {}
    # A suspension decided while the items waited for staff is honoured at the approval too.
    suspended = reason is None and await is_suspended(session, held.person_no)
    if suspended:
        for item in held.items:
            answer[item] = {"status": SUSPENDED, "records": [], "reason": SUSPENDED_REASON}
    elif reason is None:
        entries = await replica.entries(session, held.person_no, list(held.items))
        for item in held.items:
            answer[item] = {"status": PROVIDED, "records": records_of(entries, item)}
    else:
        for item in held.items:
            answer[item] = {"status": REFUSED, "records": [], "reason": reason}
    facts = ProvisionFacts(
        inquiry_id=str(held.inquiry_id),
        requester=held.requester,
        provider=held.tenant,
        clause=held.clause,
        items=tuple(held.items),
        asked_at=held.held_at,
        answered_at=now,
        provided=tuple(held.items) if reason is None and not suspended else (),
        suspended=tuple(held.items) if suspended else (),
        refused_reason=reason,
    )
    write_record(
        UnitOfWork.of(session),
        side="provider",
        tenant=held.tenant,
        person_no=held.person_no,
        actor=by,
        terminal=terminal,
        facts=facts,
    )
    await _deliver(
        sessions, requester=held.requester, inquiry_id=held.inquiry_id, answer=answer, facts=facts
    )
    # A delivery sharing this connection (tests) left the requester's tenant set.
    await enter_tenant(session, held.tenant)


async def _deliver(
    sessions: async_sessionmaker[AsyncSession],
    *,
    requester: str,
    inquiry_id: uuid.UUID,
    answer: dict[str, dict[str, Any]],
    facts: ProvisionFacts,
) -> None:
    """Routed by the hub back to the requester's gateway: the inquiry gets the decided items,
    the requester's record says what came, and its business system is told."""
    async with unit_of_work(sessions) as session:
        await enter_tenant(session, requester)
        inquiry = await repository.inquiry_for_update(session, inquiry_id)
        if inquiry is None:
            return  # retention removed it; the provider's record stands
        inquiry.answer = {**inquiry.answer, **answer}
        inquiry.status = inquiry_status(inquiry.answer)
        inquiry.answered_at = facts.answered_at
        work = UnitOfWork.of(session)
        write_record(
            work,
            side="requester",
            tenant=requester,
            person_no=inquiry.person_no,
            actor=f"municipality:{facts.provider}",
            terminal=None,
            facts=facts,
        )
        events.INQUIRY_ANSWERED.emit(
            work,
            subject=str(inquiry.id),
            tenant=requester,
            data=events.InquiryAnswered(
                inquiry_id=str(inquiry.id),
                person_no=inquiry.person_no,
                provider=facts.provider,
                status=inquiry.status,
            ),
        )
        await session.flush()
