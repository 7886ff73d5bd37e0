"""The intermediate server's OpenAPI document is its contract: every operation says what token
it needs and what problem+json answers it gives, and generated requests (schemathesis) get only
those."""

from collections.abc import Callable

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from intermediate_server.config import Settings
from intermediate_server.main import create_app
from mch_testing.api_tests import check_documented_answers, scopes_of
from mch_testing.contract import contract_gaps, public_operations
from mch_testing.keys import TestKeySet


def test_every_operation_is_secured_and_declares_its_errors(app: FastAPI) -> None:
    document = app.openapi()

    assert public_operations(document) == {"GET /healthz", "GET /readyz", "GET /metrics"}
    assert contract_gaps(document) == []


async def test_generated_requests_get_documented_answers(
    record_testsuite_property: Callable[[str, object], None],
    settings: Settings,
    jwt_keys: TestKeySet,
    committed_sessions: async_sessionmaker[AsyncSession],  # empties what the run wrote
) -> None:
    app = create_app(settings)
    token = jwt_keys.mint(scopes=scopes_of(app.openapi()), roles=("mch_staff",))

    await check_documented_answers(
        app,
        headers={"Authorization": f"Bearer {token}"},
        record_testsuite_property=record_testsuite_property,
    )
