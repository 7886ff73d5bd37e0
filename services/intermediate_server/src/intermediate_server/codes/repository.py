"""Statements of code management (the tenant's rows only: row-level security)."""

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from intermediate_server.codes.models import PersonCode

_CODE_OF_PERSON = select(PersonCode).where(PersonCode.person_no == bindparam("person_no"))
_PERSON_OF_INDEX = select(PersonCode.person_no).where(PersonCode.code_index == bindparam("idx"))


async def save_code(session: AsyncSession, rows: list[dict[str, object]]) -> None:
    """Insert or replace the mapping of each person (a re-issued 符号 replaces the old)."""
    statement = insert(PersonCode)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[PersonCode.tenant, PersonCode.person_no],
            set_={
                "code_index": statement.excluded.code_index,
                "key_id": statement.excluded.key_id,
                "code_ciphertext": statement.excluded.code_ciphertext,
                "obtained_at": statement.excluded.obtained_at,
            },
        ),
        rows,
    )


async def code_of_person(session: AsyncSession, person_no: str) -> PersonCode | None:
    """The person's 符号 row (the disclosure says whether one is held)."""
    return (await session.scalars(_CODE_OF_PERSON, {"person_no": person_no})).first()


async def person_of_index(session: AsyncSession, code_index: bytes) -> str | None:
    return await session.scalar(_PERSON_OF_INDEX, {"idx": code_index})
