"""identity's OpenAPI document is its contract: every operation says what token it needs (or
that it is public) and what problem+json answers it gives, and generated requests
(schemathesis) get only those answers."""

import base64
from collections.abc import Callable

from identity.config import Settings
from identity.main import create_app
from mch_testing.api_tests import check_documented_answers
from mch_testing.contract import contract_gaps, public_operations

from .conftest import Identity

PUBLIC = {
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "POST /oauth2/token",
    "POST /oauth2/password",  # authenticated by its own form fields, as at login
    "POST /oauth2/revoke",  # RFC 7009: the token itself is the credential
    "GET /.well-known/jwks.json",
    "GET /.well-known/openid-configuration",
}


def test_every_operation_is_secured_or_public_and_declares_its_errors(settings: Settings) -> None:
    document = create_app(settings).openapi()

    assert public_operations(document) == PUBLIC
    assert contract_gaps(document) == []


async def test_generated_requests_get_documented_answers(
    idp: Identity, settings: Settings, record_testsuite_property: Callable[[str, object], None]
) -> None:
    # Every identity scope: user, audit and review, terminal, key and client administration.
    staff = await idp.make_staff("admin01", ["user_admin", "auditor", "network_operator"])
    headers = {"Authorization": f"Bearer {await idp.token(staff)}"}

    await check_documented_answers(
        create_app(settings),
        headers=headers,
        record_testsuite_property=record_testsuite_property,
        run_last={"POST /oauth2/logout"},
    )


async def test_a_nul_in_a_form_field_is_refused_not_a_500(idp: Identity) -> None:
    # Found by the API tests: PostgreSQL's text cannot hold a NUL, so the login query failed.
    for field in ("username", "terminal_id"):
        data = {"grant_type": "password", "username": "a", "password": "p", "totp": "1"}
        data["terminal_id"] = "HQ-TEST-01"
        data[field] += "\x00"
        response = await idp.client.post("/oauth2/token", data=data)
        assert response.status_code == 422, response.text
    basic = base64.b64encode(b"client\x00:secret").decode()
    response = await idp.client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"authorization": f"Basic {basic}"},
    )
    assert response.status_code == 401, response.text


async def test_an_audit_position_beyond_a_bigint_is_refused_not_a_500(idp: Identity) -> None:
    # Found by the API tests: the database refused the number, a 500.
    staff = await idp.make_staff("auditor01", ["auditor"])
    headers = {"authorization": f"Bearer {await idp.token(staff)}"}

    response = await idp.client.get("/admin/audit", params={"before": 2**63}, headers=headers)

    assert response.status_code == 422, response.text
