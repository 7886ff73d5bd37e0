"""Personnel transfers (人事異動): a new ward, department and roles from an effective date.

A transfer is applied when it is scheduled for today or earlier, else by the maintenance task
on its date, and before any token is issued to the user; applying one refuses the user's live
tokens everywhere.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from identity.context import IdentityContext
from identity.events import UserVerb
from identity.users import repository
from identity.users.accounts import TARGET, get_user, user_for_change
from identity.users.live_tokens import cut_live_tokens
from identity.users.models import TransferStatus, User, UserRole, UserTransfer
from identity.users.validation import raise_if, role_errors, ward_errors
from mch_common.auth.principal import Principal
from mch_common.dates import today_tokyo
from mch_common.errors import Conflict, NotFound
from mch_common.work import UnitOfWork

SYSTEM_ACTOR = "system:identity"


async def schedule_transfer(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    actor: Principal,
    user_id: uuid.UUID,
    effective_date: date | None,
    ward: str | None,
    dept: str,
    roles: Sequence[str],
    reason: str | None,
) -> UserTransfer:
    """Record a transfer; applied now when it takes effect today or earlier, else on its date
    (by the maintenance task, and before any token is issued to the user)."""
    user = await user_for_change(session, user_id)
    catalog = await repository.roles_by_name(session)
    raise_if(ward_errors(ward), "ward")
    raise_if(role_errors(roles, ward, catalog), "roles")
    transfer = UserTransfer(
        id=uuid.uuid4(),
        user_id=user.id,
        effective_date=effective_date or today_tokyo(),
        ward=ward,
        dept=dept,
        roles=sorted(set(roles)),
        status=TransferStatus.PENDING.value,
        reason=reason,
        requested_by=actor.sub,
    )
    session.add(transfer)
    await session.flush()
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.user.transfer_schedule",
        target_type=TARGET,
        target_id=str(user.id),
        detail={
            "transfer_id": str(transfer.id),
            "effective_date": transfer.effective_date.isoformat(),
            "user_ward": ward,
            "dept": dept,
            "user_roles": transfer.roles,
        },
    )
    if transfer.effective_date <= today_tokyo():
        await apply_transfer(session, ctx, transfer=transfer, user=user)
    return transfer


async def apply_transfer(
    session: AsyncSession, ctx: IdentityContext, *, transfer: UserTransfer, user: User
) -> None:
    moved = user.ward != transfer.ward or user.dept != transfer.dept
    before = {"ward": user.ward, "dept": user.dept, "roles": user.role_names}
    user.ward = transfer.ward
    user.dept = transfer.dept
    user.roles = [UserRole(role=r) for r in transfer.roles]
    transfer.status = TransferStatus.APPLIED.value
    transfer.applied_at = datetime.now(UTC)
    await session.flush()
    verb: UserVerb = "transferred" if moved else "roles_changed"
    at = await cut_live_tokens(session, ctx, user, verb)
    UnitOfWork.of(session).record(
        actor=SYSTEM_ACTOR,
        action="identity.user.transfer_apply",
        target_type=TARGET,
        target_id=str(user.id),
        detail={
            "transfer_id": str(transfer.id),
            "effective_date": transfer.effective_date.isoformat(),
            "before": before,
            "after": {"ward": user.ward, "dept": user.dept, "roles": user.role_names},
            "event": f"identity.user.{verb}",
            "at": at,
        },
    )


async def apply_due_transfers(
    session: AsyncSession, ctx: IdentityContext, *, user_id: uuid.UUID | None = None
) -> int:
    """Apply every pending transfer whose date has come (for one user, or all)."""
    applied = 0
    for transfer in await repository.due_transfers(session, today=today_tokyo(), user_id=user_id):
        user = await repository.get_user(session, transfer.user_id, for_update=True)
        if user is None or user.deleted_at is not None:
            transfer.status = TransferStatus.CANCELLED.value
            continue
        await apply_transfer(session, ctx, transfer=transfer, user=user)
        applied += 1
    return applied


async def cancel_transfer(
    session: AsyncSession, *, actor: Principal, user_id: uuid.UUID, transfer_id: uuid.UUID
) -> UserTransfer:
    transfer = await session.get(UserTransfer, transfer_id, with_for_update=True)
    if transfer is None or transfer.user_id != user_id:
        raise NotFound("no such transfer")
    if transfer.status != TransferStatus.PENDING:
        raise Conflict(f"the transfer is {transfer.status}, not pending")
    transfer.status = TransferStatus.CANCELLED.value
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.user.transfer_cancel",
        target_type=TARGET,
        target_id=str(user_id),
        detail={"transfer_id": str(transfer_id)},
    )
    return transfer


async def list_transfers(session: AsyncSession, *, user_id: uuid.UUID) -> Sequence[UserTransfer]:
    await get_user(session, user_id=user_id)
    return await repository.transfers_of(session, user_id)
