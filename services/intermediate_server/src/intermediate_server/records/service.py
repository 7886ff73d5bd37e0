"""Provision records (情報提供等記録, 番号法 art. 23): one for every inquiry and provision, on
the requester's side and on the provider's, refusals and withheld items included. They are
audit log records (mch_common.audit): hash-chained by the sealer, anchored, verified by
`GET /admin/audit/verify`; the person is named by tenant and person number, so the
person-facing view is one indexed query in the caller's municipality."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from intermediate_server.codes.service import person_key
from mch_common.audit import AuditRecord, about_person
from mch_common.auth.principal import Principal
from mch_common.work import UnitOfWork

Side = Literal["requester", "provider"]
INQUIRY = "provision.inquiry"  # the requester's record
PROVISION = "provision.provide"  # the provider's record
RECORD_ACTIONS = (INQUIRY, PROVISION)


@dataclass(frozen=True)
class ProvisionFacts:
    """What both sides record: who asked, who provided, when, which items, under which
    clause, and what was provided, held, not held or refused."""

    inquiry_id: str
    requester: str
    provider: str
    clause: str
    items: tuple[str, ...]
    asked_at: datetime
    answered_at: datetime | None = None
    provided: tuple[str, ...] = ()
    held: tuple[str, ...] = ()
    not_held: tuple[str, ...] = ()
    suspended: tuple[str, ...] = ()  # the person's provision suspended (利用停止)
    refused_reason: str | None = None


def write_record(
    work: UnitOfWork,
    *,
    side: Side,
    tenant: str,
    person_no: str | None,
    actor: str,
    terminal: str | None,
    facts: ProvisionFacts,
    purpose: str | None = None,
) -> None:
    """Queue the provision record of `tenant` (the requester's or the provider's side)."""
    outcome = "refused" if facts.refused_reason else ("held" if facts.held else "success")
    if not facts.refused_reason and facts.suspended:
        outcome = "suspended"
    work.record(
        actor=actor,
        terminal=terminal,
        action=INQUIRY if side == "requester" else PROVISION,
        outcome=outcome,
        target_type="inquiry",
        target_id=facts.inquiry_id,
        purpose=purpose or facts.clause,
        detail=record_detail(side=side, tenant=tenant, facts=facts),
        persons=persons_of(tenant, person_no),
    )


def persons_of(tenant: str, person_no: str | None) -> list[str]:
    return [person_key(tenant, person_no)] if person_no else []


def record_detail(*, side: Side, tenant: str, facts: ProvisionFacts) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "side": side,
        "requester": facts.requester,
        "provider": facts.provider,
        "clause": facts.clause,
        "items": list(facts.items),
        "asked_at": facts.asked_at.isoformat(),
        "answered_at": facts.answered_at.isoformat() if facts.answered_at else None,
        "provided": list(facts.provided),
        "held": list(facts.held),
        "not_held": list(facts.not_held),
        "suspended": list(facts.suspended),
        "refused_reason": facts.refused_reason,
    }


_RECORDS_ABOUT = (
    select(AuditRecord)
    .where(AuditRecord.action.in_(RECORD_ACTIONS))
    .order_by(AuditRecord.seq.desc())
    .limit(bindparam("limit"))
)


async def records_about(
    session: AsyncSession, *, tenant: str, person_no: str, limit: int, before: int | None
) -> Sequence[AuditRecord]:
    """The provision records about one person of `tenant`, newest first (マイナポータル's
    view of who asked for their data and who provided it)."""
    statement = _RECORDS_ABOUT.where(about_person(person_key(tenant, person_no)))
    if before is not None:
        statement = statement.where(AuditRecord.seq < before)
    return (await session.scalars(statement, {"limit": limit})).all()


def record_view(record: AuditRecord) -> dict[str, Any]:
    return {
        **record.detail,
        "seq": record.seq,
        "occurred_at": record.occurred_at,
        "outcome": record.outcome,
    }


async def person_view(
    session: AsyncSession, *, principal: Principal, person_no: str, limit: int, before: int | None
) -> Sequence[AuditRecord]:
    records = await records_about(
        session, tenant=principal.tenant, person_no=person_no, limit=limit, before=before
    )
    UnitOfWork.of(session).record_access(
        principal,
        action="records.read",
        target_type="provision_records",
        target_id=person_no,
        detail={"tenant": principal.tenant, "count": len(records)},
        persons=persons_of(principal.tenant, person_no),
    )
    return records
