"""User administration API (scope identity:user:admin)."""

import uuid
from typing import Annotated

from fastapi import Body, Query
from fastapi.responses import JSONResponse

from identity.deps import SHOWS_SECRET, Context, UserAdmin
from identity.users import accounts, credentials, importing, roles, status, transfers
from identity.users.models import User
from identity.users.schemas import (
    ImportedUser,
    ImportResult,
    IssuedCredentials,
    PasswordReset,
    PasswordResetOut,
    Reason,
    RolesChange,
    SecondFactorOut,
    TransferIn,
    TransferOut,
    UserIssue,
    UserOut,
    UserUpdate,
)
from mch_common.errors import problem_response
from mch_common.inputs import PlainText
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(prefix="/admin/users", tags=["user administration"])


def user_out(user: User) -> UserOut:
    out = UserOut.model_validate(user)
    out.second_factor_enrolled = user.totp_confirmed_at is not None
    return out


@router.post(
    "",
    status_code=201,
    summary="Issue a user id",
    dependencies=SHOWS_SECRET,
)
async def issue(
    body: UserIssue, session: Session, ctx: Context, actor: UserAdmin
) -> IssuedCredentials:
    issued = await accounts.issue_user(session, ctx, actor=actor, **body.model_dump())
    return IssuedCredentials(
        user=user_out(issued.user),
        initial_password=issued.initial_password,
        totp_secret=issued.totp_secret,
        totp_uri=issued.totp_uri,
    )


@router.get("", summary="List users")
async def list_users(
    session: Session, actor: UserAdmin, include_deleted: bool = False
) -> list[UserOut]:
    return [
        user_out(u) for u in await accounts.list_users(session, include_deleted=include_deleted)
    ]


@router.post(
    "/import",
    response_model=ImportResult,
    summary="Bulk issue from CSV (all or nothing; per-line error report)",
    dependencies=SHOWS_SECRET,
    responses={422: {"description": "problem+json whose `errors` name each bad line"}},
)
async def import_csv(
    session: Session,
    ctx: Context,
    actor: UserAdmin,
    csv_text: Annotated[PlainText, Body(media_type="text/csv")],
    dry_run: Annotated[bool, Query()] = False,
) -> ImportResult | JSONResponse:
    report = await importing.import_users(
        session, ctx, actor=actor, csv_text=csv_text, dry_run=dry_run
    )
    if report.errors:
        # Returned, not raised: the rejected attempt's audit record must commit.
        return problem_response(
            status=422,
            code="invalid-import",
            title="The import file has errors",
            detail=f"{len(report.errors)} problem(s); nothing was imported.",
            instance="/admin/users/import",
            errors=report.errors,
        )
    return ImportResult(
        dry_run=report.dry_run,
        errors=[],
        imported=[
            ImportedUser(
                line=index,
                login_id=i.user.login_id,
                user_id=i.user.id,
                initial_password=i.initial_password,
                totp_secret=i.totp_secret,
                totp_uri=i.totp_uri,
            )
            for index, i in enumerate(report.imported, start=2)
        ],
    )


@router.get("/{user_id}")
async def get(user_id: uuid.UUID, session: Session, actor: UserAdmin) -> UserOut:
    return user_out(await accounts.get_user(session, user_id=user_id))


@router.patch("/{user_id}", summary="Change name or validity period")
async def update(
    user_id: uuid.UUID, body: UserUpdate, session: Session, ctx: Context, actor: UserAdmin
) -> UserOut:
    changes = body.model_dump(exclude_unset=True)
    return user_out(
        await accounts.update_user(session, ctx, actor=actor, user_id=user_id, changes=changes)
    )


@router.put("/{user_id}/roles", summary="Change roles now")
async def change_roles(
    user_id: uuid.UUID, body: RolesChange, session: Session, ctx: Context, actor: UserAdmin
) -> UserOut:
    return user_out(
        await roles.change_roles(session, ctx, actor=actor, user_id=user_id, roles=body.roles)
    )


@router.post(
    "/{user_id}/transfers",
    status_code=201,
    summary="Personnel transfer: new ward, department and roles from a date",
)
async def transfer(
    user_id: uuid.UUID, body: TransferIn, session: Session, ctx: Context, actor: UserAdmin
) -> TransferOut:
    t = await transfers.schedule_transfer(
        session, ctx, actor=actor, user_id=user_id, **body.model_dump()
    )
    return TransferOut.model_validate(t)


@router.get("/{user_id}/transfers")
async def list_transfers(
    user_id: uuid.UUID, session: Session, actor: UserAdmin
) -> list[TransferOut]:
    return [
        TransferOut.model_validate(t)
        for t in await transfers.list_transfers(session, user_id=user_id)
    ]


@router.post("/{user_id}/transfers/{transfer_id}/cancel")
async def cancel_transfer(
    user_id: uuid.UUID, transfer_id: uuid.UUID, session: Session, actor: UserAdmin
) -> TransferOut:
    t = await transfers.cancel_transfer(
        session, actor=actor, user_id=user_id, transfer_id=transfer_id
    )
    return TransferOut.model_validate(t)


async def _status(
    action: str,
    user_id: uuid.UUID,
    body: Reason | None,
    session: Session,
    ctx: Context,
    actor: UserAdmin,
) -> UserOut:
    user = await status.set_status(
        session,
        ctx,
        actor=actor,
        user_id=user_id,
        action=action,
        reason=body.reason if body else None,
    )
    return user_out(user)


@router.post("/{user_id}/suspend", summary="Suspend (reversible)")
async def suspend(
    user_id: uuid.UUID, session: Session, ctx: Context, actor: UserAdmin, body: Reason | None = None
) -> UserOut:
    return await _status("suspend", user_id, body, session, ctx, actor)


@router.post("/{user_id}/reinstate", summary="Lift a suspension")
async def reinstate(
    user_id: uuid.UUID, session: Session, ctx: Context, actor: UserAdmin, body: Reason | None = None
) -> UserOut:
    return await _status("reinstate", user_id, body, session, ctx, actor)


@router.post("/{user_id}/revoke", summary="Revoke the user id (final)")
async def revoke(
    user_id: uuid.UUID, session: Session, ctx: Context, actor: UserAdmin, body: Reason | None = None
) -> UserOut:
    return await _status("revoke", user_id, body, session, ctx, actor)


@router.delete("/{user_id}", summary="Delete (soft: kept for the audit)")
async def delete(
    user_id: uuid.UUID, session: Session, ctx: Context, actor: UserAdmin, reason: str | None = None
) -> UserOut:
    return await _status("delete", user_id, Reason(reason=reason), session, ctx, actor)


@router.post("/{user_id}/unlock", summary="Clear a lockout")
async def unlock(user_id: uuid.UUID, session: Session, actor: UserAdmin) -> UserOut:
    return user_out(await status.unlock(session, actor=actor, user_id=user_id))


@router.post(
    "/{user_id}/password",
    summary="Reset password",
    dependencies=SHOWS_SECRET,
)
async def reset_password(
    user_id: uuid.UUID, body: PasswordReset, session: Session, ctx: Context, actor: UserAdmin
) -> PasswordResetOut:
    generated = await credentials.reset_password(
        session, ctx, actor=actor, user_id=user_id, password=body.password
    )
    return PasswordResetOut(generated_password=generated)


@router.post(
    "/{user_id}/second-factor",
    summary="Reissue the second factor (new TOTP secret; the old one stops working)",
    dependencies=SHOWS_SECRET,
)
async def reissue_second_factor(
    user_id: uuid.UUID, session: Session, ctx: Context, actor: UserAdmin
) -> SecondFactorOut:
    _, secret, uri = await credentials.reissue_second_factor(
        session, ctx, actor=actor, user_id=user_id
    )
    return SecondFactorOut(totp_secret=secret, totp_uri=uri)
