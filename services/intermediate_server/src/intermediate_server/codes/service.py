"""Code management (符号管理): the gateway obtains each person's 符号 from the hub with the My
Number, which crosses once (in the request body) and is never stored here; the mapping is kept
per tenant, the 符号 encrypted."""

from dataclasses import dataclass
from datetime import UTC, datetime

from national_hub.hub import NationalHub
from sqlalchemy.ext.asyncio import AsyncSession

from intermediate_server.codes import repository
from intermediate_server.codes.cipher import CodeCipher
from mch_common.auth.principal import Principal
from mch_common.work import UnitOfWork


@dataclass(frozen=True)
class PersonWithMyNumber:
    person_no: str
    my_number: str


@dataclass(frozen=True)
class CodesObtained:
    obtained: int


def person_key(tenant: str, person_no: str) -> str:
    """How provision records name a person: the person number is only unique in its city."""
    return f"{tenant}:{person_no}"


async def obtain_codes(
    session: AsyncSession,
    *,
    principal: Principal,
    hub: NationalHub,
    cipher: CodeCipher,
    people: list[PersonWithMyNumber],
) -> CodesObtained:
    tenant = principal.tenant
    now = datetime.now(UTC)
    rows: list[dict[str, object]] = []
    for person in people:
        code = await hub.obtain_code(institution=tenant, my_number=person.my_number)
        rows.append(
            {
                "tenant": tenant,
                "person_no": person.person_no,
                "code_index": cipher.index(code, tenant=tenant),
                "key_id": cipher.key_id,
                "code_ciphertext": cipher.encrypt(code, tenant=tenant, person_no=person.person_no),
                "obtained_at": now,
            }
        )
    await repository.save_code(session, rows)
    UnitOfWork.of(session).record_access(
        principal,
        action="code.obtain",
        target_type="person_code",
        outcome="success",
        detail={"tenant": tenant, "count": len(rows)},
        persons=[person_key(tenant, p.person_no) for p in people],
    )
    return CodesObtained(obtained=len(rows))


async def person_of(
    session: AsyncSession, *, cipher: CodeCipher, tenant: str, code: str
) -> str | None:
    return await repository.person_of_index(session, cipher.index(code, tenant=tenant))
