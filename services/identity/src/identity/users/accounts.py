"""Issuing, reading and updating a user id (利用者ID), and loading one for a change.

Every change writes an audit record in the same transaction.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from identity import totp
from identity.context import IdentityContext
from identity.crypto import check_password_policy, generate_password, hash_password_async
from identity.errors import AlreadyExists
from identity.users import repository
from identity.users.models import User, UserRole, UserStatus
from identity.users.validation import raise_if, role_errors, ward_errors
from mch_common.auth.principal import Principal
from mch_common.dates import today_tokyo
from mch_common.errors import NotFound
from mch_common.work import UnitOfWork

TARGET = "staff_user"


@dataclass(frozen=True)
class IssuedUser:
    """A new user and the credentials to hand over once (they are not shown again)."""

    user: User
    initial_password: str | None
    totp_secret: str
    totp_uri: str


async def user_for_change(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await repository.get_user(session, user_id, for_update=True)
    if user is None or user.deleted_at is not None:
        raise NotFound("no such user")
    return user


async def settled(session: AsyncSession, user: User) -> User:
    """Flush and reload the server-set `updated_at`, so the user can be rendered."""
    await session.flush()
    await session.refresh(user, attribute_names=["updated_at"])
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
    raise_if(ward_errors(ward), "ward")
    raise_if(role_errors(roles, ward, catalog), "roles")
    start = valid_from or today_tokyo()
    if valid_until is not None and valid_until < start:
        raise_if(["valid_until is before valid_from"], "valid_until")
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
    user = await user_for_change(session, user_id)
    before = {k: getattr(user, k) for k in changes}
    for key, value in changes.items():
        setattr(user, key, value)
    if user.valid_until is not None and user.valid_until < user.valid_from:
        raise_if(["valid_until is before valid_from"], "valid_until")
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
    return await settled(session, user)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
