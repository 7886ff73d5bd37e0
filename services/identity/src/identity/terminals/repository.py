"""Queries on registered terminals."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.terminals.models import Terminal


async def list_terminals(session: AsyncSession) -> Sequence[Terminal]:
    return (await session.execute(select(Terminal).order_by(Terminal.id))).scalars().all()
