"""Queries on service clients."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.tokens.models import ServiceClient


async def list_clients(session: AsyncSession) -> Sequence[ServiceClient]:
    rows = await session.execute(select(ServiceClient).order_by(ServiceClient.client_id))
    return rows.scalars().all()
