"""Assembling a decided disclosure: boshi_core's own part and each source's, the withheld
parts left out (named, with the decision's reason), and every service's accesses to the person
merged into one section, staff ids withheld unless the decision discloses them."""

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.config import SERVICE
from boshi_core.disclosure import service as own_disclosure
from boshi_core.immunization.client import ImmunizationClient
from boshi_core.platform_disclosure.sources import DisclosureSources
from boshi_core.requests.models import PersonalDataRequest
from mch_common.auth.principal import Principal
from mch_common.disclosure import STAFF_WITHHELD, as_disclosed

PURPOSE = "個人情報保護法第77条 開示請求 (disclosure request)"
ACCESS_SECTION = "access_log"
# boshi_core's own export fields that are not the person's data but the export's envelope.
_ENVELOPE = ("person_no", "exported_at", "exported_by", "access_log")
# Fields of the records that name a staff member (the city's staff ids): withheld with the
# access section's staff unless the decision discloses them. (`diagnosed_by` is the doctor or
# midwife the person named on her notification, and `due_by` a date: kept.)
STAFF_FIELDS = frozenset(
    {
        "answered_by", "assigned_to", "changed_by", "completed_by", "corrected_by",
        "created_by", "decided_by", "follow_up_by", "id_checked_by", "imported_by",
        "issued_by", "opened_by", "received_by", "recorded_by", "reviewed_by", "actor",
    }
)  # fmt: skip


def _staff_withheld(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: STAFF_WITHHELD if k in STAFF_FIELDS and v else _staff_withheld(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_staff_withheld(v) for v in value]
    return value


def sections(sources: DisclosureSources) -> frozenset[str]:
    """The parts a partial decision can withhold: each service's records, and the accesses."""
    return frozenset({SERVICE, *sources.names, ACCESS_SECTION})


async def collect(
    session: AsyncSession,
    *,
    principal: Principal,
    request: PersonalDataRequest,
    sources: DisclosureSources,
    immunization: ImmunizationClient,
) -> dict[str, Any]:
    person_no = request.person_no
    own = await own_disclosure.export(
        session,
        principal=principal,
        person_no=person_no,
        purpose=PURPOSE,
        immunization=immunization,
    )
    answers = await asyncio.gather(*(sources.ask(name, person_no) for name in sources.names))
    exports: dict[str, dict[str, Any] | None] = {SERVICE: own}
    exports.update({answer.service: answer.export for answer in answers})

    withheld = set(request.withheld)
    held: dict[str, Any] = {}
    accesses: list[dict[str, Any]] = []
    for service, export in exports.items():
        if export is not None:
            accesses += as_disclosed(
                export.get("access_log") or [],
                service=service,
                disclose_staff=request.disclose_staff,
            )
        if service in withheld:
            held[service] = {"withheld": True, "reason": request.decision_reason}
        elif export is None:
            held[service] = {"holds_nothing": True}
        else:
            records = {k: v for k, v in export.items() if k not in _ENVELOPE}
            held[service] = records if request.disclose_staff else _staff_withheld(records)
    accesses.sort(key=lambda entry: (entry["occurred_at"], entry["service"], entry["seq"]))
    return {
        "request_id": str(request.id),
        "person_no": person_no,
        "exported_at": datetime.now(UTC).isoformat(),
        "decision": {
            "outcome": request.outcome,
            "decided_on": request.decided_on.isoformat() if request.decided_on else None,
            "withheld": sorted(withheld),
            "reason": request.decision_reason,
            "staff_disclosed": request.disclose_staff,
        },
        "services": held,
        ACCESS_SECTION: (
            {"withheld": True, "reason": request.decision_reason}
            if ACCESS_SECTION in withheld
            else accesses
        ),
    }
