"""The request register: receipt (with the identity check and the legal deadline), one
extension, the decision, and the overdue list; every step is in the access log.

Deadlines (個人情報保護法 arts. 83, 94, 102): a decision within 30 days of receipt, counted
by mch_common.dates.deadline_in_days (the day of receipt not counted, a last day on which the
offices are closed moved to the next open day); one extension by up to 30 days more, its
reason recorded and the requester notified."""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.paging import next_cursor, parse_cursor
from boshi_core.people.service import person_in_scope
from boshi_core.requests import corrections, repository
from boshi_core.requests.models import PersonalDataRequest
from mch_common.auth.principal import Principal
from mch_common.dates import deadline_in_days, today_tokyo
from mch_common.errors import Conflict, InvalidInput, NotFound
from mch_common.work import UnitOfWork

DECISION_DAYS = 30
EXTENSION_DAYS = 30
PURPOSE = "個人情報保護法 開示・訂正・利用停止請求の処理 (handling a request from the person)"
NO_SUCH_REQUEST = "no such request"


def _log(
    principal: Principal,
    session: AsyncSession,
    request: PersonalDataRequest,
    action: str,
    **detail: Any,
) -> None:
    UnitOfWork.of(session).record_access(
        principal,
        action=f"request.{action}",
        target_type="personal_data_request",
        target_id=str(request.id),
        purpose=PURPOSE,
        detail={"kind": request.kind, **detail},
        persons=[request.person_no],
    )


async def receive(
    session: AsyncSession,
    *,
    principal: Principal,
    person_no: str,
    kind: str,
    requester: dict[str, Any],
    asked: str,
    items: dict[str, Any],
    received_on: date,
) -> PersonalDataRequest:
    """Register a request; its deadline is 30 days from receipt."""
    if received_on > today_tokyo():
        raise InvalidInput("the day of receipt is in the future")
    await person_in_scope(session, principal, person_no)
    if kind == "correction":
        await corrections.check(session, person_no=person_no, items=items["corrections"])
    request = PersonalDataRequest(
        person_no=person_no,
        kind=kind,
        requester=requester,
        asked=asked,
        items=items,
        received_on=received_on,
        deadline=deadline_in_days(received_on, DECISION_DAYS),
        status="received",
        withheld=[],
        disclose_staff=False,
        received_by=principal.sub,
    )
    session.add(request)
    await session.flush()
    _log(principal, session, request, "receive", requester_kind=requester["kind"])
    return request


async def _request(session: AsyncSession, request_id: UUID) -> PersonalDataRequest:
    request = await repository.for_update(session, request_id)
    if request is None:
        raise NotFound(NO_SUCH_REQUEST)
    return request


async def view(
    session: AsyncSession, *, principal: Principal, request_id: UUID
) -> PersonalDataRequest:
    request = await repository.get(session, request_id)
    if request is None:
        raise NotFound(NO_SUCH_REQUEST)
    await person_in_scope(session, principal, request.person_no)
    _log(principal, session, request, "view")
    return request


async def extend(
    session: AsyncSession,
    *,
    principal: Principal,
    request_id: UUID,
    extended_to: date,
    reason: str,
    notified_on: date,
) -> PersonalDataRequest:
    """The one extension: to a day after the deadline and at most 30 days after it, decided
    and notified before the deadline passes."""
    request = await _request(session, request_id)
    await person_in_scope(session, principal, request.person_no)
    if request.status != "received":
        raise Conflict("the request is already decided")
    if request.extended_to is not None:
        raise Conflict("the deadline has already been extended once")
    if not request.deadline < extended_to <= request.deadline + timedelta(days=EXTENSION_DAYS):
        raise InvalidInput(
            f"an extension moves the deadline by 1 to {EXTENSION_DAYS} days "
            f"(after {request.deadline.isoformat()})"
        )
    if not request.received_on <= notified_on <= request.deadline:
        raise InvalidInput("the requester is notified of the extension before the deadline")
    request.extended_to = extended_to
    request.extension_reason = reason
    request.extension_notified_on = notified_on
    _log(principal, session, request, "extend", extended_to=extended_to.isoformat())
    return request


async def decide(
    session: AsyncSession,
    *,
    principal: Principal,
    request_id: UUID,
    outcome: str,
    decided_on: date,
    withheld: list[str],
    reason: str | None,
    disclose_staff: bool,
    allowed_withheld: frozenset[str],
) -> PersonalDataRequest:
    """Record the decision (full, partial with the withheld parts, refusal), once."""
    request = await _request(session, request_id)
    await person_in_scope(session, principal, request.person_no)
    if request.status != "received":
        raise Conflict("the request is already decided")
    if not request.received_on <= decided_on <= today_tokyo():
        raise InvalidInput("the decision day is between the receipt and today")
    unknown = sorted(set(withheld) - withheld_parts(request, allowed_withheld))
    if unknown:
        raise InvalidInput(
            "the withheld parts are not parts of this request",
            errors=[
                {"loc": ["body", "withheld"], "msg": f"unknown part: {part}"} for part in unknown
            ],
        )
    request.outcome = outcome
    request.decided_on = decided_on
    request.withheld = sorted(set(withheld))
    request.decision_reason = reason
    request.disclose_staff = disclose_staff
    request.decided_by = principal.sub
    request.status = "decided"
    _log(principal, session, request, "decide", outcome=outcome, withheld=request.withheld)
    return request


def withheld_parts(request: PersonalDataRequest, sections: frozenset[str]) -> frozenset[str]:
    """What a partial decision may withhold: a disclosure's sections, a correction's items
    (numbered from 1), a suspension's uses."""
    if request.kind == "disclosure":
        return sections
    if request.kind == "correction":
        return frozenset(str(n) for n in range(1, len(request.items["corrections"]) + 1))
    return frozenset(request.items["uses"])


@dataclass(frozen=True)
class RequestPage:
    items: list[PersonalDataRequest]
    next_cursor: str | None


async def overdue(
    session: AsyncSession,
    *,
    principal: Principal,
    as_of: date | None,
    limit: int,
    cursor: str | None,
) -> RequestPage:
    """Undecided requests past their (extended) deadline, oldest due first, paged."""
    on = as_of or today_tokyo()
    after = parse_cursor(cursor)
    rows = await repository.overdue(
        session, as_of=on, ward_code=principal.ward, after=after, limit=limit + 1
    )
    page, more = rows[:limit], len(rows) > limit
    UnitOfWork.of(session).record_access(
        principal,
        action="request.list_overdue",
        target_type="personal_data_request_list",
        purpose=PURPOSE,
        detail={"as_of": on.isoformat(), "count": len(page)},
        persons=sorted({r.person_no for r in page}),
    )
    last = page[-1] if more else None
    return RequestPage(
        page, next_cursor((last.extended_to or last.deadline, last.id) if last else None)
    )
