"""boshi_core's OpenAPI document is its contract: every operation says what token it needs and
what problem+json answers it gives, and generated requests (schemathesis) get only those
answers."""

from collections.abc import Callable

import httpx
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boshi_core.config import Settings
from boshi_core.main import create_app
from boshi_core.people.atena import AtenaClient
from boshi_core.rules.repository import BIRTH, PROGRAMMES, RISK, VOUCHERS
from boshi_core.testsupport import FakeAtena
from mch_testing.api_tests import check_documented_answers, scopes_of
from mch_testing.contract import contract_gaps, public_operations
from mch_testing.keys import TestKeySet


def test_every_operation_is_secured_and_declares_its_errors(settings: Settings) -> None:
    document = create_app(settings, with_consumers=False).openapi()

    assert public_operations(document) == {"GET /healthz", "GET /readyz", "GET /metrics"}
    assert contract_gaps(document) == []


async def test_generated_requests_get_documented_answers(
    record_testsuite_property: Callable[[str, object], None],
    settings: Settings,
    jwt_keys: TestKeySet,
    fake_atena: FakeAtena,
    committed_sessions: async_sessionmaker[AsyncSession],  # empties what the run wrote
) -> None:
    app = create_app(settings, with_consumers=False)
    token = jwt_keys.mint(scopes=scopes_of(app.openapi()), roles=("mch_staff",))

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(fake_atena.handler), base_url="http://atena.test"
    ) as atena_http:
        app.state.atena = AtenaClient(atena_http)
        await check_documented_answers(
            app,
            headers={"Authorization": f"Bearer {token}"},
            record_testsuite_property=record_testsuite_property,
        )
    # The rule tables are reference data the cleanup keeps: drop the versions the run added.
    async with committed_sessions() as session, session.begin():
        for book in (VOUCHERS, RISK, BIRTH, PROGRAMMES):
            await session.execute(delete(book.model).where(book.model.recorded_by.is_not(None)))
