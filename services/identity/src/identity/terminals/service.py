"""Registering and deactivating terminals (端末登録)."""

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from identity.errors import AlreadyExists
from identity.terminals import repository
from identity.terminals.models import Terminal
from mch_common.auth.principal import Principal
from mch_common.errors import InvalidInput, NotFound
from mch_common.lgcode import KITAKYUSHU_WARDS
from mch_common.work import UnitOfWork


async def register_terminal(
    session: AsyncSession,
    *,
    actor: Principal,
    terminal_id: str,
    name: str,
    ward: str | None,
    location: str | None,
) -> Terminal:
    if ward is not None and ward not in KITAKYUSHU_WARDS:
        raise InvalidInput(f"unknown ward code {ward!r}")
    if await session.get(Terminal, terminal_id) is not None:
        raise AlreadyExists(f"terminal {terminal_id} is already registered")
    terminal = Terminal(
        id=terminal_id,
        name=name,
        ward=ward,
        location=location,
        active=True,
        registered_by=actor.sub,
        registered_at=datetime.now(UTC),
    )
    session.add(terminal)
    await session.flush()
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.terminal.register",
        target_type="terminal",
        target_id=terminal_id,
        detail={"terminal_ward": ward, "name": name},
    )
    return terminal


async def deactivate_terminal(
    session: AsyncSession, *, actor: Principal, terminal_id: str
) -> Terminal:
    terminal = await session.get(Terminal, terminal_id, with_for_update=True)
    if terminal is None:
        raise NotFound("no such terminal")
    terminal.active = False
    terminal.deactivated_at = datetime.now(UTC)
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.terminal.deactivate",
        target_type="terminal",
        target_id=terminal_id,
    )
    return terminal


async def list_terminals(session: AsyncSession) -> Sequence[Terminal]:
    return await repository.list_terminals(session)
