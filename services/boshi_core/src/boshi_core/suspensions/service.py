"""Applying a suspension decision: the uses stopped or restored, each change an event."""

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core import events
from boshi_core.requests.models import PersonalDataRequest
from boshi_core.suspensions import repository
from mch_common.auth.principal import Principal
from mch_common.work import UnitOfWork


async def apply(
    session: AsyncSession,
    *,
    principal: Principal,
    request: PersonalDataRequest,
    uses: list[str],
    on: date,
) -> dict[str, str]:
    """Stop (or, for a lift, restore) each use; what happened to each ("suspended",
    "already_suspended", "lifted", "not_suspended")."""
    lift = bool(request.items.get("lift"))
    work = UnitOfWork.of(session)
    done: dict[str, str] = {}
    for use in uses:
        if lift:
            changed = await repository.lift(
                session, person_no=request.person_no, use=use, request_id=request.id, on=on
            )
            done[use] = "lifted" if changed else "not_suspended"
        else:
            changed = await repository.suspend(
                session, person_no=request.person_no, use=use, request_id=request.id, on=on
            )
            done[use] = "suspended" if changed else "already_suspended"
        if changed:
            events.USE_SUSPENSION_CHANGED.emit(
                work,
                subject=request.person_no,
                tenant=principal.tenant,
                data=events.UseSuspensionChanged(
                    person_no=request.person_no,
                    use=use,
                    suspended=not lift,
                    request_id=str(request.id),
                    effective_on=on,
                ),
            )
    return done
