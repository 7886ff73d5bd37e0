"""Row-level security: a statement in a Kitakyushu transaction of the service's own runtime
role, raw SQL included, neither sees nor writes Fukuoka's rows; without a tenant it sees none.
The audit log, which holds the provision records, is walled off the same way."""

import json
import uuid
from datetime import date

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from intermediate_server.deps import AUDIT_READ, PLATFORM_ADMIN, network_sessions
from intermediate_server.tenancy import enter_tenant, tenant_transaction
from mch_common.db_session import TransactionRolledBack

from .conftest import FUKUOKA, KITAKYUSHU, Headers, Person, checkup

TENANT_TABLES = ("person_code", "replica_entry", "inquiry", "held_provision", "used_permit")
WALLED_TABLES = (*TENANT_TABLES, "provision_suspension", "audit_log")


async def test_a_kitakyushu_session_cannot_read_fukuoka_rows_even_with_raw_sql(
    client: httpx.AsyncClient, headers: Headers, person: Person, db_session: AsyncSession
) -> None:
    kitakyushu_no = await person(KITAKYUSHU)
    fukuoka_no = await person(FUKUOKA)
    for tenant, number in ((KITAKYUSHU, kitakyushu_no), (FUKUOKA, fukuoka_no)):
        answer = await client.put(
            f"/replica/persons/{number}/checkups",
            json=checkup(f"ck-{tenant}", taken_on=date(2026, 9, 1)),
            headers=headers(tenant=tenant, sub="boshi_core", service=True),
        )
        assert answer.status_code == 200, answer.text

    await enter_tenant(db_session, KITAKYUSHU)
    codes = (await db_session.execute(text("SELECT tenant, person_no FROM person_code"))).all()
    replica = (await db_session.execute(text("SELECT tenant, person_no FROM replica_entry"))).all()
    asked_by_name = await db_session.scalar(
        text("SELECT count(*) FROM replica_entry WHERE tenant = :t OR person_no = :p"),
        {"t": FUKUOKA, "p": fukuoka_no},
    )

    assert codes == [(KITAKYUSHU, kitakyushu_no)]
    assert replica == [(KITAKYUSHU, kitakyushu_no)]
    assert asked_by_name == 0
    await enter_tenant(db_session, FUKUOKA)
    assert (await db_session.execute(text("SELECT person_no FROM person_code"))).all() == [
        (fukuoka_no,)
    ]


async def test_a_kitakyushu_session_cannot_write_fukuoka_rows(
    client: httpx.AsyncClient, person: Person, db_session: AsyncSession
) -> None:
    fukuoka_no = await person(FUKUOKA)
    await enter_tenant(db_session, KITAKYUSHU)

    changed = await db_session.execute(
        text("UPDATE person_code SET key_id = 'stolen' WHERE person_no = :p"), {"p": fukuoka_no}
    )
    assert changed.rowcount == 0  # type: ignore[attr-defined]
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db_session.begin_nested():
            await db_session.execute(
                text(
                    "INSERT INTO replica_entry (id, tenant, person_no, item_no, record_key, "
                    "as_of, no_auto_response, data) VALUES (gen_random_uuid(), :t, '4013000000', "
                    "'95', 'x', now(), false, '{}')"
                ),
                {"t": FUKUOKA},
            )


async def test_without_a_tenant_a_session_sees_no_tenant_rows(
    client: httpx.AsyncClient, person: Person, db_session: AsyncSession
) -> None:
    await person(KITAKYUSHU)
    await person(FUKUOKA)
    await db_session.execute(text("SELECT set_config('app.tenant', '', true)"))

    for table in WALLED_TABLES:
        assert await db_session.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table


async def test_the_runtime_role_cannot_bypass_row_level_security(db_session: AsyncSession) -> None:
    role = (
        await db_session.execute(
            text("SELECT rolbypassrls, rolsuper FROM pg_roles WHERE rolname = current_user")
        )
    ).one()
    forced = (
        await db_session.execute(
            text(
                "SELECT relname, relrowsecurity, relforcerowsecurity, "
                "pg_get_userbyid(relowner) = current_user FROM pg_class "
                "WHERE relname = ANY(:tables) ORDER BY relname"
            ),
            {"tables": list(WALLED_TABLES)},
        )
    ).all()

    assert tuple(role) == (False, False)
    assert [tuple(r) for r in forced] == [(t, True, True, False) for t in sorted(WALLED_TABLES)]


async def test_a_token_of_a_tenant_that_is_no_municipality_is_refused(
    client: httpx.AsyncClient, headers: Headers
) -> None:
    answer = await client.put(
        "/replica/persons/4010000010/checkups",
        json=checkup("ck", taken_on=date(2026, 9, 1)),
        headers=headers(tenant="401000", sub="boshi_core", service=True),
    )

    assert answer.status_code == 403
    assert answer.json()["detail"] == "the token's tenant is not a municipality code"


async def test_a_kitakyushu_session_reads_only_kitakyushu_audit_records_even_with_raw_sql(
    client: httpx.AsyncClient, headers: Headers, person: Person, db_session: AsyncSession
) -> None:
    kitakyushu_no = await person(KITAKYUSHU)
    fukuoka_no = await person(FUKUOKA)
    for tenant, number in ((KITAKYUSHU, kitakyushu_no), (FUKUOKA, fukuoka_no)):
        answer = await client.put(
            f"/replica/persons/{number}/checkups",
            json=checkup(f"ck-{tenant}", taken_on=date(2026, 9, 1)),
            headers=headers(tenant=tenant, sub="boshi_core", service=True),
        )
        assert answer.status_code == 200, answer.text
    fukuoka_key = f"{FUKUOKA}:{fukuoka_no}"

    await enter_tenant(db_session, KITAKYUSHU)
    # A record's municipality: its detail's `tenant`, else its first person key's.
    tenants = (
        await db_session.scalars(
            text("SELECT DISTINCT audit_record_tenant(detail, persons) FROM audit_log")
        )
    ).all()
    named = await db_session.scalar(
        text(
            "SELECT count(*) FROM audit_log WHERE persons @> ARRAY[CAST(:key AS text)] "
            "OR detail->>'tenant' = :tenant"
        ),
        {"key": fukuoka_key, "tenant": FUKUOKA},
    )

    assert tenants == [KITAKYUSHU]
    assert named == 0
    # Nor does it write a record of Fukuoka's.
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db_session.begin_nested():
            await db_session.execute(
                text(
                    "INSERT INTO audit_log (occurred_at, actor, action, outcome, detail, persons) "
                    "VALUES (now(), 'x', 'replica.register', 'success', "
                    "CAST(:detail AS jsonb), ARRAY[CAST(:key AS text)])"
                ),
                {"detail": json.dumps({"tenant": FUKUOKA}), "key": fukuoka_key},
            )
    # Fukuoka's transaction sees its own.
    await enter_tenant(db_session, FUKUOKA)
    assert await db_session.scalar(
        text("SELECT count(*) FROM audit_log WHERE persons @> ARRAY[CAST(:key AS text)]"),
        {"key": fukuoka_key},
    )


async def test_a_municipalitys_auditor_reads_its_own_audit_records_and_the_operator_all(
    client: httpx.AsyncClient, headers: Headers, person: Person
) -> None:
    for tenant in (KITAKYUSHU, FUKUOKA):
        number = await person(tenant)
        answer = await client.put(
            f"/replica/persons/{number}/checkups",
            json=checkup(f"ck-{tenant}", taken_on=date(2026, 9, 1)),
            headers=headers(tenant=tenant, sub="boshi_core", service=True),
        )
        assert answer.status_code == 200, answer.text

    async def tenants_seen(*scopes: str) -> set[str]:
        page = await client.get(
            "/admin/audit", params={"action": "replica.register"}, headers=headers(*scopes)
        )
        assert page.status_code == 200, page.text
        return {item["detail"]["tenant"] for item in page.json()["items"]}

    assert await tenants_seen(AUDIT_READ) == {KITAKYUSHU}
    assert await tenants_seen(AUDIT_READ, PLATFORM_ADMIN) == {KITAKYUSHU, FUKUOKA}


async def used_permits(sessions: async_sessionmaker[AsyncSession], tenant: str) -> list[str]:
    async with sessions() as session, session.begin():
        await enter_tenant(session, tenant)
        rows = await session.execute(text("SELECT CAST(jti AS text) FROM used_permit"))
        return [r[0] for r in rows]


async def use_permit(session: AsyncSession, tenant: str) -> str:
    jti = str(uuid.uuid4())
    await session.execute(
        text(
            "INSERT INTO used_permit (jti, tenant, used_at, expires_at)"
            " VALUES (CAST(:jti AS uuid), :tenant, now(), now())"
        ),
        {"jti": jti, "tenant": tenant},
    )
    return jti


async def test_a_tenant_transaction_is_walled_off_and_commits_at_its_end(
    committed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with tenant_transaction(committed_sessions, FUKUOKA) as session:
        assert await session.scalar(text("SELECT current_setting('app.tenant')")) == FUKUOKA
        jti = await use_permit(session, FUKUOKA)
        assert await used_permits(committed_sessions, FUKUOKA) == []  # not committed yet

    assert await used_permits(committed_sessions, FUKUOKA) == [jti]
    assert await used_permits(committed_sessions, KITAKYUSHU) == []


async def test_a_tenant_transaction_whose_statement_failed_does_not_claim_to_commit(
    committed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async def write_for_another_tenant() -> None:
        async with tenant_transaction(committed_sessions, FUKUOKA) as session:
            await use_permit(session, FUKUOKA)
            with pytest.raises(DBAPIError, match="row-level security"):
                await use_permit(session, KITAKYUSHU)

    with pytest.raises(TransactionRolledBack):
        await write_for_another_tenant()
    assert await used_permits(committed_sessions, FUKUOKA) == []


async def test_a_tenant_transaction_rolls_back_on_an_error_and_its_connection_is_reused_clean(
    committed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async def write_then_fail() -> None:
        async with tenant_transaction(committed_sessions, FUKUOKA) as session:
            await use_permit(session, FUKUOKA)
            raise RuntimeError("after the write")

    with pytest.raises(RuntimeError, match="after the write"):
        await write_then_fail()
    assert await used_permits(committed_sessions, FUKUOKA) == []

    # The pool's connections are back outside any transaction, with no tenant set.
    async with committed_sessions() as session:
        assert await session.scalar(text("SELECT current_setting('app.tenant', true)")) in (
            None,
            "",
        )
        assert (await session.execute(text("SELECT count(*) FROM used_permit"))).scalar() == 0


async def test_the_hub_and_the_provider_use_a_pool_apart_from_the_requests(app: FastAPI) -> None:
    own = network_sessions(app.state)
    assert own is app.state.network_sessions
    assert own is not app.state.sessions
    assert own.kw["bind"] is not app.state.sessions.kw["bind"]  # another engine, another pool
