"""The access section of a disclosure (開示請求), the same from every service: each service's
disclosure endpoint lists the accesses to the person from its own person-keyed access log with
`person_accesses`, and the collecting service (boshi_core) shows them to the person with
`as_disclosed`.

An entry says who (department, ward, roles, terminal; the staff member's id, which
`as_disclosed` withholds unless the decision discloses it), when, what (the action and the kind
of record) and why (the purpose), and the outcome, refusals with their reason. It says nothing
about anyone else: not the other people a list showed (`persons`), not another record's id,
not the record's free `detail` beyond the refusal reason."""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mch_common.audit import AuditRecord, about_person

STAFF_WITHHELD = "(非開示 withheld)"


def access_entry(record: AuditRecord) -> dict[str, Any]:
    detail = record.detail or {}
    roles = detail.get("roles")
    return {
        "seq": record.seq,
        "occurred_at": record.occurred_at.isoformat(),
        "actor": record.actor,
        "department": detail.get("dept"),
        "ward": detail.get("ward"),
        "roles": list(roles) if isinstance(roles, list) else [],
        "terminal": record.terminal,
        "action": record.action,
        "record_type": record.target_type,
        "purpose": record.purpose,
        "outcome": record.outcome,
        "reason": detail.get("reason") if record.outcome != "success" else None,
    }


async def person_accesses(session: AsyncSession, person_no: str) -> list[dict[str, Any]]:
    """Every access to the person in this service's log, refusals included, oldest first."""
    stmt = select(AuditRecord).where(about_person(person_no)).order_by(AuditRecord.seq)
    return [access_entry(r) for r in (await session.execute(stmt)).scalars()]


def as_disclosed(
    entries: Iterable[dict[str, Any]], *, service: str, disclose_staff: bool
) -> list[dict[str, Any]]:
    """A service's entries as the person receives them: the service named, a staff member's
    id withheld unless the decision discloses it (a system's own name, `svc:<client>`, is not a
    person's and stays)."""
    out = []
    for entry in entries:
        actor = str(entry.get("actor") or "")
        shown = actor if disclose_staff or actor.startswith("svc:") else STAFF_WITHHELD
        out.append({"service": service, **entry, "actor": shown})
    return out
