"""User administration (利用者管理): issue, change, transfer, suspend, revoke, delete, import.

Every action writes an audit record in the same transaction. Actions that must cut a user's
live tokens set `tokens_valid_after`, revoke the user's refresh tokens and emit the
`identity.user.<verb>` event every service applies (see identity.events).
"""

import csv
import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from identity import totp
from identity.context import IdentityContext
from identity.crypto import check_password_policy, generate_password, hash_password_async
from identity.errors import AlreadyExists
from identity.events import UserVerb, emit_user_event, revocation_instant
from identity.tokens.models import RefreshToken
from identity.users import repository
from identity.users.models import (
    Role,
    TransferStatus,
    User,
    UserRole,
    UserStatus,
    UserTransfer,
    WardLevel,
)
from mch_common.auth.principal import Principal
from mch_common.dates import today_tokyo
from mch_common.errors import Conflict, InvalidInput, NotFound
from mch_common.lgcode import KITAKYUSHU_WARDS
from mch_common.work import UnitOfWork

TARGET = "staff_user"
SYSTEM_ACTOR = "system:identity"


@dataclass(frozen=True)
class IssuedUser:
    """A new user and the credentials to hand over once (they are not shown again)."""

    user: User
    initial_password: str | None
    totp_secret: str
    totp_uri: str


def _ward_errors(ward: str | None) -> list[str]:
    if ward is not None and ward not in KITAKYUSHU_WARDS:
        return [f"unknown ward code {ward!r}; use one of {', '.join(sorted(KITAKYUSHU_WARDS))}"]
    return []


def role_errors(roles: Sequence[str], ward: str | None, catalog: dict[str, Role]) -> list[str]:
    """Roles must exist, and their ward level must match whether the user has a ward."""
    problems: list[str] = []
    if not roles:
        problems.append("at least one role is required")
    for name in roles:
        role = catalog.get(name)
        if role is None:
            problems.append(f"unknown role {name!r}")
        elif role.ward_level == WardLevel.CITY and ward is not None:
            problems.append(f"role {name!r} is city-wide: ward must be empty")
        elif role.ward_level == WardLevel.WARD and ward is None:
            problems.append(f"role {name!r} is held in one ward: ward is required")
    return problems


def _raise_if(problems: list[str], field: str) -> None:
    if problems:
        raise InvalidInput(
            "; ".join(problems),
            errors=[{"loc": [field], "msg": p, "type": "value_error"} for p in problems],
        )


async def cut_live_tokens(
    session: AsyncSession, ctx: IdentityContext, user: User, verb: UserVerb
) -> int:
    """Refuse every token the user holds now, here and (via the event) in every service."""
    at = revocation_instant()
    user.tokens_valid_after = datetime.fromtimestamp(at, UTC)
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    emit_user_event(session, tenant=ctx.settings.tenant, user_id=user.id, verb=verb, at=at)
    return at


async def _settled(session: AsyncSession, user: User) -> User:
    """Flush and reload the server-set `updated_at`, so the user can be rendered."""
    await session.flush()
    await session.refresh(user, attribute_names=["updated_at"])
    return user


async def _load(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await repository.get_user(session, user_id, for_update=True)
    if user is None or user.deleted_at is not None:
        raise NotFound("no such user")
    return user


async def issue_user(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    actor: Principal,
    login_id: str,
    display_name: str,
    dept: str,
    ward: str | None,
    roles: Sequence[str],
    valid_from: date | None,
    valid_until: date | None,
    password: str | None,
    audit_detail: dict[str, Any] | None = None,
    password_must_change: bool = True,
) -> IssuedUser:
    catalog = await repository.roles_by_name(session)
    _raise_if(_ward_errors(ward), "ward")
    _raise_if(role_errors(roles, ward, catalog), "roles")
    start = valid_from or today_tokyo()
    if valid_until is not None and valid_until < start:
        _raise_if(["valid_until is before valid_from"], "valid_until")
    if await repository.login_ids_taken(session, [login_id]):
        raise AlreadyExists(f"user id {login_id} is already issued (ids are never reused)")
    generated = password is None
    initial = generate_password() if password is None else password
    if not generated:
        check_password_policy(
            initial, login_id=login_id, min_length=ctx.settings.password_min_length
        )
    secret = totp.new_secret()
    now = datetime.now(UTC)
    user = User(
        id=uuid.uuid4(),
        login_id=login_id,
        display_name=display_name,
        dept=dept,
        ward=ward,
        status=UserStatus.ACTIVE.value,
        valid_from=start,
        valid_until=valid_until,
        password_hash=await hash_password_async(initial),
        password_changed_at=now,
        # An administrator knows the password: its owner replaces it at the first login.
        password_must_change=password_must_change,
        totp_secret_encrypted=ctx.box.encrypt(secret.encode(), purpose=f"totp:{login_id}"),
        failed_attempts=0,
        created_by=actor.sub,
        roles=[UserRole(role=r) for r in sorted(set(roles))],
    )
    session.add(user)
    await session.flush()
    await session.refresh(user, attribute_names=["created_at", "updated_at"])
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.user.issue",
        target_type=TARGET,
        target_id=str(user.id),
        detail={
            "login_id": login_id,
            "dept": dept,
            "user_ward": ward,
            "user_roles": sorted(set(roles)),
            "valid_from": start.isoformat(),
            "valid_until": valid_until.isoformat() if valid_until else None,
            **(audit_detail or {}),
        },
    )
    return IssuedUser(
        user=user,
        initial_password=initial if generated else None,
        totp_secret=secret,
        totp_uri=totp.provisioning_uri(secret, login_id=login_id, issuer=ctx.settings.totp_issuer),
    )


async def get_user(session: AsyncSession, *, user_id: uuid.UUID) -> User:
    user = await repository.get_user(session, user_id)
    if user is None:
        raise NotFound("no such user")
    return user


async def list_users(session: AsyncSession, *, include_deleted: bool) -> Sequence[User]:
    return await repository.list_users(session, include_deleted=include_deleted)


async def update_user(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    actor: Principal,
    user_id: uuid.UUID,
    changes: dict[str, Any],
) -> User:
    """Name and validity period. Ward, department and roles change through transfers."""
    user = await _load(session, user_id)
    before = {k: getattr(user, k) for k in changes}
    for key, value in changes.items():
        setattr(user, key, value)
    if user.valid_until is not None and user.valid_until < user.valid_from:
        _raise_if(["valid_until is before valid_from"], "valid_until")
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.user.update",
        target_type=TARGET,
        target_id=str(user.id),
        detail={
            "before": {k: _jsonable(v) for k, v in before.items()},
            "after": {k: _jsonable(v) for k, v in changes.items()},
        },
    )
    return await _settled(session, user)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


async def change_roles(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    actor: Principal,
    user_id: uuid.UUID,
    roles: Sequence[str],
) -> User:
    user = await _load(session, user_id)
    catalog = await repository.roles_by_name(session)
    _raise_if(role_errors(roles, user.ward, catalog), "roles")
    before = user.role_names
    user.roles = [UserRole(role=r) for r in sorted(set(roles))]
    await session.flush()
    at = await cut_live_tokens(session, ctx, user, "roles_changed")
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.user.roles_change",
        target_type=TARGET,
        target_id=str(user.id),
        detail={"before": before, "after": sorted(set(roles)), "at": at},
    )
    return await _settled(session, user)


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
    user = await _load(session, user_id)
    catalog = await repository.roles_by_name(session)
    _raise_if(_ward_errors(ward), "ward")
    _raise_if(role_errors(roles, ward, catalog), "roles")
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


async def set_status(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    actor: Principal,
    user_id: uuid.UUID,
    action: str,
    reason: str | None,
) -> User:
    """suspend, reinstate, revoke (irreversible) or delete (soft; the row stays for the audit)."""
    user = await _load(session, user_id)
    before = user.status
    at: int | None = None
    if action == "suspend":
        if user.status != UserStatus.ACTIVE:
            raise Conflict(f"only an active user can be suspended; this one is {user.status}")
        user.status = UserStatus.SUSPENDED.value
        at = await cut_live_tokens(session, ctx, user, "suspended")
    elif action == "reinstate":
        if user.status != UserStatus.SUSPENDED:
            raise Conflict(f"only a suspended user can be reinstated; this one is {user.status}")
        user.status = UserStatus.ACTIVE.value
    elif action == "revoke":
        if user.status == UserStatus.REVOKED:
            raise Conflict("the user id is already revoked")
        user.status = UserStatus.REVOKED.value
        at = await cut_live_tokens(session, ctx, user, "revoked")
    elif action == "delete":
        user.deleted_at = datetime.now(UTC)
        if user.status != UserStatus.REVOKED:
            user.status = UserStatus.REVOKED.value
        at = await cut_live_tokens(session, ctx, user, "deleted")
    else:  # pragma: no cover - routers only pass the four actions
        raise InvalidInput(f"unknown action {action}")
    UnitOfWork.of(session).record_access(
        actor,
        action=f"identity.user.{action}",
        target_type=TARGET,
        target_id=str(user.id),
        purpose=reason,
        detail={"login_id": user.login_id, "before": before, "after": user.status, "at": at},
    )
    return await _settled(session, user)


async def unlock(session: AsyncSession, *, actor: Principal, user_id: uuid.UUID) -> User:
    user = await _load(session, user_id)
    user.failed_attempts = 0
    user.locked_until = None
    UnitOfWork.of(session).record_access(
        actor, action="identity.user.unlock", target_type=TARGET, target_id=str(user.id)
    )
    return await _settled(session, user)


async def reset_password(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    actor: Principal,
    user_id: uuid.UUID,
    password: str | None,
) -> str | None:
    """Returns the generated password when none was given (shown once)."""
    user = await _load(session, user_id)
    new = generate_password() if password is None else password
    if password is not None:
        check_password_policy(
            new, login_id=user.login_id, min_length=ctx.settings.password_min_length
        )
    user.password_hash = await hash_password_async(new)
    user.password_changed_at = datetime.now(UTC)
    user.password_must_change = True  # the administrator knows it
    user.failed_attempts = 0
    user.locked_until = None
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.user.password_reset",
        target_type=TARGET,
        target_id=str(user.id),
    )
    return new if password is None else None


async def reissue_second_factor(
    session: AsyncSession, ctx: IdentityContext, *, actor: Principal, user_id: uuid.UUID
) -> tuple[User, str, str]:
    """A new TOTP secret (the lost-card case): the old one stops working at once."""
    user = await _load(session, user_id)
    secret = totp.new_secret()
    user.totp_secret_encrypted = ctx.box.encrypt(secret.encode(), purpose=f"totp:{user.login_id}")
    user.totp_confirmed_at = None
    user.totp_last_step = None
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.user.second_factor_reissue",
        target_type=TARGET,
        target_id=str(user.id),
    )
    uri = totp.provisioning_uri(secret, login_id=user.login_id, issuer=ctx.settings.totp_issuer)
    return await _settled(session, user), secret, uri


# --- bulk import -----------------------------------------------------------------------------

IMPORT_COLUMNS = ("login_id", "display_name", "dept", "ward", "roles", "valid_from", "valid_until")


@dataclass(frozen=True)
class ImportReport:
    imported: list[IssuedUser]
    errors: list[dict[str, Any]]
    dry_run: bool


def _parse_date(value: str, field: str, problems: list[dict[str, Any]], line: int) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append({"line": line, "field": field, "msg": "not a date (YYYY-MM-DD)"})
        return None


async def import_users(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    actor: Principal,
    csv_text: str,
    dry_run: bool,
) -> ImportReport:
    """All or nothing: every line is checked first; with any error nothing is imported and the
    report names each bad line (line 1 is the header). Columns: IMPORT_COLUMNS; `roles` is
    space-separated; an empty `ward` means city-wide."""
    reader = csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff")))
    missing = [c for c in IMPORT_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(
            f"the header lacks column(s) {', '.join(missing)}",
            errors=[{"line": 1, "field": c, "msg": "missing column"} for c in missing],
        )
    catalog = await repository.roles_by_name(session)
    problems: list[dict[str, Any]] = []
    parsed: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    rows = list(reader)
    taken = await repository.login_ids_taken(
        session, [(r.get("login_id") or "").strip() for r in rows]
    )
    for index, raw in enumerate(rows, start=2):
        row = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        line_problems: list[dict[str, Any]] = []
        login_id = row.get("login_id", "")
        if not login_id or len(login_id) > 50:
            line_problems.append({"line": index, "field": "login_id", "msg": "1 to 50 characters"})
        elif login_id in taken:
            line_problems.append(
                {"line": index, "field": "login_id", "msg": "already issued (never reused)"}
            )
        elif login_id in seen:
            line_problems.append(
                {"line": index, "field": "login_id", "msg": f"duplicate of line {seen[login_id]}"}
            )
        seen.setdefault(login_id, index)
        for field in ("display_name", "dept"):
            if not row.get(field):
                line_problems.append({"line": index, "field": field, "msg": "required"})
        ward = row.get("ward") or None
        roles = sorted(set(row.get("roles", "").split()))
        line_problems += [{"line": index, "field": "ward", "msg": m} for m in _ward_errors(ward)]
        line_problems += [
            {"line": index, "field": "roles", "msg": m} for m in role_errors(roles, ward, catalog)
        ]
        valid_from = _parse_date(row.get("valid_from", ""), "valid_from", line_problems, index)
        valid_until = _parse_date(row.get("valid_until", ""), "valid_until", line_problems, index)
        if valid_from and valid_until and valid_until < valid_from:
            line_problems.append(
                {"line": index, "field": "valid_until", "msg": "before valid_from"}
            )
        problems += line_problems
        if not line_problems:
            parsed.append(
                (
                    index,
                    {
                        "login_id": login_id,
                        "display_name": row["display_name"],
                        "dept": row["dept"],
                        "ward": ward,
                        "roles": roles,
                        "valid_from": valid_from,
                        "valid_until": valid_until,
                    },
                )
            )
    if not rows:
        problems.append({"line": 2, "field": None, "msg": "the file has no user lines"})
    if problems or dry_run:
        UnitOfWork.of(session).record_access(
            actor,
            action="identity.user.import",
            outcome="rejected" if problems else "dry_run",
            target_type=TARGET,
            detail={"lines": len(rows), "errors": len(problems)},
        )
        return ImportReport(imported=[], errors=problems, dry_run=dry_run)
    imported = [
        await issue_user(
            session, ctx, actor=actor, password=None, audit_detail={"import_line": line}, **values
        )
        for line, values in parsed
    ]
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.user.import",
        target_type=TARGET,
        detail={"lines": len(rows), "imported": len(imported)},
    )
    return ImportReport(imported=imported, errors=[], dry_run=False)
