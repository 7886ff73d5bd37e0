"""The audit chain, which holds the provision records: the auditor's endpoints, the shared
tampering check, and an altered or deleted provision record named by the verifier."""

from datetime import date
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from intermediate_server.config import Settings
from intermediate_server.deps import AUDIT_READ, CODE_WRITE, INQUIRE
from intermediate_server.main import create_app
from mch_common.audit import read_whole_log
from mch_common.audit_cli import verify
from mch_common.db import create_engine
from mch_common.mynumber import generate_my_number
from mch_testing.audit import TamperingDatabase, check_the_chain_verifies_for_auditors_only
from mch_testing.keys import TestKeySet
from mch_testing.plugin import DatabaseFactory

from .conftest import CLAUSE_95, FUKUOKA, KITAKYUSHU, Headers, add_tenants, checkup


async def test_the_auditor_verifies_the_chain(client: httpx.AsyncClient, headers: Headers) -> None:
    auditor = headers(AUDIT_READ, sub="auditor-01")
    await check_the_chain_verifies_for_auditors_only(client, auditor=auditor, unscoped=headers())


async def test_truncation_and_rewrites_are_detected(
    tampering_database: TamperingDatabase,
) -> None:
    await tampering_database.check_detected(create_app, Settings(**tampering_database.settings))


async def test_an_altered_or_deleted_provision_record_is_detected(
    database_factory: DatabaseFactory,
    migrations_path: Path,
    test_database_name: str,
    service_settings: dict[str, Any],
    jwt_keys: TestKeySet,
) -> None:
    # A database and an anchor namespace of its own: the records chain is checked whole.
    url = await database_factory.create(f"{test_database_name}_records", migrations_path)
    namespace = f"{service_settings['event_namespace']}_records"
    settings = Settings(**{**service_settings, "database_url": url, "event_namespace": namespace})

    def bearer(*scopes: str, tenant: str, service: bool = False) -> dict[str, str]:
        token = jwt_keys.mint(
            sub="svc:atena" if service else "staff-0001",
            scopes=scopes,
            tenant=tenant,
            terminal=None if service else "TERM-0001",
        )
        return {"Authorization": f"Bearer {token}"}

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with app.state.sessions() as session, session.begin():
            await add_tenants(session)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            my_number = generate_my_number()
            for tenant, number in ((FUKUOKA, "4013000011"), (KITAKYUSHU, "4010000011")):
                await client.post(
                    "/codes",
                    json={"people": [{"person_no": number, "my_number": my_number}]},
                    headers=bearer(CODE_WRITE, tenant=tenant, service=True),
                )
            await client.put(
                "/replica/persons/4013000011/checkups",
                json=checkup("ck", taken_on=date(2026, 9, 1)),
                headers=bearer("ims:replica:write", tenant=FUKUOKA, service=True),
            )
            for _ in range(3):
                answer = await client.post(
                    "/inquiries",
                    json={
                        "person_no": "4010000011",
                        "provider": FUKUOKA,
                        "clause": CLAUSE_95,
                        "items": ["95"],
                    },
                    headers=bearer(INQUIRE, tenant=KITAKYUSHU),
                )
                assert answer.status_code == 201, answer.text
    # Shutting down sealed the records and anchored the head.
    intact = await verify(settings)
    assert intact.ok, intact

    owner = create_engine(database_factory.owner_url(url), pool_size=1)
    try:
        async with owner.begin() as conn:
            await read_whole_log(conn)  # the owner reads past the tenant wall too
            seq, pos = (
                await conn.execute(
                    text(
                        "SELECT seq, chain_pos FROM audit_log WHERE action = 'provision.provide' "
                        "ORDER BY seq LIMIT 1"
                    )
                )
            ).one()
            await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            # Erase what was provided from the provider's record.
            await conn.execute(
                text(
                    "UPDATE audit_log SET detail = jsonb_set(detail, '{provided}', '[]') "
                    "WHERE seq = :seq"
                ),
                {"seq": seq},
            )
            await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
        altered = await verify(settings)
        assert not altered.ok
        assert (altered.first_broken_seq, altered.first_broken_pos) == (seq, pos)

        async with owner.begin() as conn:
            await read_whole_log(conn)
            await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            await conn.execute(text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": seq})
            await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
        deleted = await verify(settings)
        assert not deleted.ok
        assert deleted.first_broken_pos == pos
    finally:
        await owner.dispose()
