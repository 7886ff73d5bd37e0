"""Queries on users, roles and transfers."""

import uuid
from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from identity.users.models import Role, RoleScope, TransferStatus, User, UserTransfer


async def get_user(
    session: AsyncSession, user_id: uuid.UUID, *, for_update: bool = False
) -> User | None:
    stmt = select(User).where(User.id == user_id).options(selectinload(User.roles))
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_user_by_login(
    session: AsyncSession, login_id: str, *, for_update: bool = False
) -> User | None:
    stmt = (
        select(User)
        .where(User.login_id == login_id, User.deleted_at.is_(None))
        .options(selectinload(User.roles))
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def login_ids_taken(session: AsyncSession, login_ids: Iterable[str]) -> set[str]:
    ids = list(login_ids)
    if not ids:
        return set()
    rows = await session.execute(select(User.login_id).where(User.login_id.in_(ids)))
    return set(rows.scalars())


async def list_users(session: AsyncSession, *, include_deleted: bool = False) -> Sequence[User]:
    stmt = select(User).options(selectinload(User.roles)).order_by(User.login_id)
    if not include_deleted:
        stmt = stmt.where(User.deleted_at.is_(None))
    return (await session.execute(stmt)).scalars().all()


async def roles_by_name(session: AsyncSession) -> dict[str, Role]:
    rows = await session.execute(select(Role).options(selectinload(Role.scopes)))
    return {role.name: role for role in rows.scalars()}


async def scopes_of(session: AsyncSession, roles: Sequence[str]) -> list[str]:
    if not roles:
        return []
    rows = await session.execute(
        select(RoleScope.scope).where(RoleScope.role.in_(roles)).distinct()
    )
    return sorted(rows.scalars())


async def due_transfers(
    session: AsyncSession, *, today: date, user_id: uuid.UUID | None = None
) -> Sequence[UserTransfer]:
    stmt = (
        select(UserTransfer)
        .where(
            UserTransfer.status == TransferStatus.PENDING,
            UserTransfer.effective_date <= today,
        )
        .order_by(UserTransfer.effective_date, UserTransfer.requested_at)
        .with_for_update(skip_locked=True)
    )
    if user_id is not None:
        stmt = stmt.where(UserTransfer.user_id == user_id)
    return (await session.execute(stmt)).scalars().all()


async def pending_transfers(session: AsyncSession) -> dict[uuid.UUID, UserTransfer]:
    """The next pending transfer of each user."""
    rows = await session.execute(
        select(UserTransfer)
        .where(UserTransfer.status == TransferStatus.PENDING)
        .order_by(UserTransfer.effective_date.desc())
    )
    return {t.user_id: t for t in rows.scalars()}


async def transfers_of(session: AsyncSession, user_id: uuid.UUID) -> Sequence[UserTransfer]:
    rows = await session.execute(
        select(UserTransfer)
        .where(UserTransfer.user_id == user_id)
        .order_by(UserTransfer.effective_date, UserTransfer.requested_at)
    )
    return rows.scalars().all()


async def granted_scopes(session: AsyncSession) -> set[str]:
    """Every scope some role grants."""
    return set((await session.execute(select(RoleScope.scope).distinct())).scalars())
