"""Refusals leave an access record that the refusal's rollback cannot take.

A request's transaction rolls back when it answers 401, 403 or 404, and its access records
with it. So a refusal's record is committed apart, in its own transaction from the app's
session factory, before the error propagates. Two ways in, one writer (`commit_refusal`):

- every route about a person: the app's problem handler records each 401/403/404 on a route
  whose path names a person (`create_service_app(person_params=...)`), with the principal if
  any, the terminal, the route and the person id from the path, so no route can forget it;
- a refusal the path does not show (a search by My Number): the service raises
  `refusal(session, error, principal, action=..., ...)`; the unit of work (`mch_common.db.
  unit_of_work`, the request's session) rolls back, then commits the record apart.

A refusal must tell no more than a miss: where "you may not see them" would confirm that they
exist, answer the miss instead with `refused_as_miss(refusal, miss)`; the record still says it
was a refusal, and why.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mch_common.auth.deps import ensure_ward_access
from mch_common.auth.principal import Principal
from mch_common.db import unit_of_work
from mch_common.errors import DomainError, Forbidden, NotFound
from mch_common.work import NoUnitOfWorkError, UnitOfWork

# The access record's outcome of each refusal status.
REFUSAL_OUTCOMES = {401: "unauthenticated", 403: "refused", 404: "not_found"}
ANONYMOUS = "anonymous"  # the actor of a request without a valid token


def refusal_outcome(error: DomainError) -> str | None:
    """What the access record of `error` says: its own outcome if it hides one, else its
    status's; None for an error that is not a refusal."""
    return error.refusal_outcome or REFUSAL_OUTCOMES.get(error.status)


def refused_as_miss(refusal: DomainError, miss: DomainError) -> DomainError:
    """`miss` (the answer for someone who does not exist), carrying `refusal`'s outcome and
    reason for the access record: the caller learns no more than from a miss."""
    miss.refusal_outcome = refusal_outcome(refusal)
    miss.refusal_reason = refusal.detail
    return miss


def ensure_ward_access_as_miss(principal: Principal, ward_code: str | None, *, miss: str) -> None:
    """`ensure_ward_access` for a person who exists: another ward's resident is answered as a
    miss (404 `miss`, the answer for someone unknown), the access record saying refused."""
    try:
        ensure_ward_access(principal, ward_code)
    except Forbidden as denied:
        raise refused_as_miss(denied, NotFound(miss)) from None


async def commit_refusal(
    sessions: async_sessionmaker[AsyncSession],
    error: DomainError,
    principal: Principal | None,
    *,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    purpose: str | None = None,
    persons: Iterable[str] = (),
    detail: dict[str, Any] | None = None,
) -> None:
    """Commit the access record of `error` in a transaction of its own: who (the principal, or
    `anonymous`), the terminal, what, whom, the outcome and the reason. Marks `error` as
    recorded, so the problem handler does not record it again."""
    outcome = refusal_outcome(error) or "failure"
    reason = {"reason": error.refusal_reason or error.detail, **(detail or {})}
    async with unit_of_work(sessions) as session:
        work = UnitOfWork.of(session)
        if principal is not None:
            work.record_access(
                principal,
                action=action,
                target_type=target_type,
                target_id=target_id,
                purpose=purpose,
                outcome=outcome,
                detail=reason,
                persons=persons,
            )
        else:
            work.record(
                actor=ANONYMOUS,
                action=action,
                outcome=outcome,
                target_type=target_type,
                target_id=target_id,
                purpose=purpose,
                detail=reason,
                persons=persons,
            )
    error.access_recorded = True


def refusal(
    session: AsyncSession,
    error: DomainError,
    principal: Principal | None,
    *,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    purpose: str | None = None,
    persons: Iterable[str] = (),
    detail: dict[str, Any] | None = None,
) -> DomainError:
    """`error`, to raise, carrying its access record: when it leaves `session`'s unit of work,
    the transaction rolls back and the record is committed apart (`commit_refusal`), through
    the factory the unit of work was opened with."""
    if UnitOfWork.of(session).sessions is None:
        raise NoUnitOfWorkError("a refusal needs the unit of work's session factory")

    async def record(sessions: async_sessionmaker[AsyncSession]) -> None:
        await commit_refusal(
            sessions,
            error,
            principal,
            action=action,
            target_type=target_type,
            target_id=target_id,
            purpose=purpose,
            persons=persons,
            detail=detail,
        )

    error.pending_record = record
    return error


async def record_person_route_refusal(request: Request, error: DomainError) -> None:
    """The problem handler's hook: a 401/403/404 on a route whose path names a person (the
    app's `person_params`) is recorded, unless the service recorded it already. The action is
    the route (`GET /persons/{person_no}`), the target the first person parameter."""
    if error.access_recorded or refusal_outcome(error) is None:
        return
    person_params: Mapping[str, str] = getattr(request.app.state, "person_params", {})
    named = [(name, str(v)) for name, v in request.path_params.items() if name in person_params]
    if not named:
        return
    name, target_id = named[0]
    principal = getattr(request.state, "principal", None)
    # A multi-tenant service names a person by tenant too (`app.state.person_key`: the
    # intermediate server's "tenant:person_no"); a person number alone is only a city's.
    person_key: Callable[[str, str], str] | None = getattr(request.app.state, "person_key", None)
    if person_key is not None and principal is not None:
        target_id = person_key(principal.tenant, target_id)
    route = request.scope.get("route")
    await commit_refusal(
        request.app.state.sessions,
        error,
        principal,
        action=f"{request.method} {getattr(route, 'path', request.url.path)}",
        target_type=person_params[name],
        target_id=target_id[:100],
    )
