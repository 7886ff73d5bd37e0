from datetime import date

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from e_application.procedures.models import Procedure

_VERSION = select(Procedure).where(
    Procedure.code == bindparam("code"), Procedure.version == bindparam("version")
)
_IN_FORCE = (
    select(Procedure)
    .where(
        Procedure.code == bindparam("code"),
        Procedure.effective_from <= bindparam("on"),
        or_(Procedure.effective_to.is_(None), Procedure.effective_to > bindparam("on")),
    )
    .order_by(Procedure.version.desc())
    .limit(1)
)
_ALL = select(Procedure).order_by(Procedure.code, Procedure.version)


async def version(session: AsyncSession, *, code: str, version: int) -> Procedure | None:
    return (
        await session.execute(_VERSION, {"code": code, "version": version})
    ).scalar_one_or_none()


async def in_force(session: AsyncSession, *, code: str, on: date) -> Procedure | None:
    return (await session.execute(_IN_FORCE, {"code": code, "on": on})).scalar_one_or_none()


async def all_versions(session: AsyncSession) -> list[Procedure]:
    return list((await session.execute(_ALL)).scalars())
