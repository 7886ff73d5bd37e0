"""The audit endpoints every service includes, behind its auditor scope:
`GET /admin/audit` (newest first, paged by a `before` cursor, filtered by person, staff,
action, outcome and period) and `GET /admin/audit/verify` (the chain checked end to end and
against the latest published anchor, naming the first bad record)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from mch_common.audit import AuditRecord, ChainVerification, about_person, verify_chain
from mch_common.audit_anchor import AuditAnchors
from mch_common.auth.deps import require_scope
from mch_common.auth.principal import Principal
from mch_common.routes import ServiceRouter
from mch_common.web import Session


class AuditRecordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    occurred_at: datetime
    actor: str
    terminal: str | None
    action: str
    target_type: str | None
    target_id: str | None
    purpose: str | None
    outcome: str
    detail: dict[str, Any]
    correlation_id: str | None
    persons: list[str]
    chain_pos: int | None


class AuditPage(BaseModel):
    items: list[AuditRecordOut]
    # Pass as `before` for the next (older) page; null on the last page.
    next_before: int | None


class AnchorOut(BaseModel):
    chain_pos: int
    hash: str
    at: datetime


class ChainVerificationOut(BaseModel):
    ok: bool
    checked: int
    unsealed: int
    first_broken_seq: int | None
    first_broken_pos: int | None
    reason: str | None
    anchor: AnchorOut | None
    # The chain starts after this position: the records before were retired past retention.
    retired_through: int = 0

    @classmethod
    def of(cls, result: ChainVerification) -> "ChainVerificationOut":
        anchor = result.anchor
        return cls(
            ok=result.ok,
            checked=result.checked,
            unsealed=result.unsealed,
            first_broken_seq=result.first_broken_seq,
            first_broken_pos=result.first_broken_pos,
            reason=result.reason,
            retired_through=result.retired_through,
            anchor=AnchorOut(chain_pos=anchor.chain_pos, hash=anchor.hash, at=anchor.at)
            if anchor
            else None,
        )


def audit_router(*, read_scope: str) -> APIRouter:
    """The router for a service whose auditors hold `read_scope` (`atena:audit:read`)."""
    router = ServiceRouter(prefix="/admin/audit", tags=["audit"])
    Auditor = Annotated[Principal, require_scope(read_scope)]

    @router.get("", summary="Read the audit log, newest first")
    async def read_audit_log(
        session: Session,
        auditor: Auditor,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        before: Annotated[
            int | None, Query(ge=1, le=2**63 - 1, description="a page's next_before")
        ] = None,
        target_id: Annotated[str | None, Query(max_length=100, description="target")] = None,
        person: Annotated[
            str | None, Query(max_length=100, description="every record about this person")
        ] = None,
        actor: Annotated[str | None, Query(max_length=100, description="staff")] = None,
        action: Annotated[str | None, Query(max_length=100)] = None,
        outcome: Annotated[str | None, Query(max_length=20)] = None,
        since: Annotated[datetime | None, Query(description="from this time on")] = None,
        until: Annotated[datetime | None, Query(description="before this time")] = None,
    ) -> AuditPage:
        stmt = select(AuditRecord)
        if before is not None:
            stmt = stmt.where(AuditRecord.seq < before)
        for column, value in (
            (AuditRecord.target_id, target_id),
            (AuditRecord.actor, actor),
            (AuditRecord.action, action),
            (AuditRecord.outcome, outcome),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if person is not None:
            stmt = stmt.where(about_person(person))
        if since is not None:
            stmt = stmt.where(AuditRecord.occurred_at >= since)
        if until is not None:
            stmt = stmt.where(AuditRecord.occurred_at < until)
        rows = (
            (await session.execute(stmt.order_by(AuditRecord.seq.desc()).limit(limit + 1)))
            .scalars()
            .all()
        )
        page = [AuditRecordOut.model_validate(row) for row in rows[:limit]]
        return AuditPage(items=page, next_before=page[-1].seq if len(rows) > limit else None)

    @router.get(
        "/verify",
        summary="Check the hash chain end to end and against the latest anchor",
    )
    async def verify_audit_chain(
        request: Request, session: Session, auditor: Auditor
    ) -> ChainVerificationOut:
        anchors: AuditAnchors = request.app.state.runtime.anchors
        result = await verify_chain(session, anchor=await anchors.latest())
        return ChainVerificationOut.of(result)

    return router
