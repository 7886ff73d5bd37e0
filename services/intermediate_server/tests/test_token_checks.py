"""The shared token checks (mch_testing.token_checks) on every scoped route; the platform
serves every municipality, so another tenant's token is walled off by the database instead
(test_tenancy) and refused here only when its tenant is no municipality code."""

import httpx
from fastapi import FastAPI

from intermediate_server.deps import AUDIT_READ, PLATFORM_ADMIN, SYSTEM_ADMIN
from mch_testing.keys import TestKeySet
from mch_testing.token_checks import TokenChecks

from .conftest import ALL_SCOPES, FUKUOKA


class TestTokenChecks(TokenChecks):
    scopes = (*ALL_SCOPES, AUDIT_READ, SYSTEM_ADMIN, PLATFORM_ADMIN)
    service_sub = "svc:boshi_core"
    service_probe = "/inquiries/01a23730-5042-7dce-bc65-d37730acc952"

    async def test_a_token_of_another_tenant_is_refused_on_every_route(  # type: ignore[override]
        self, app: FastAPI, client: httpx.AsyncClient, jwt_keys: TestKeySet
    ) -> None:
        """Overridden: a multi-tenant service accepts every municipality's token."""
        assert app.state.settings.multi_tenant is True
        token = jwt_keys.mint(sub=self.service_sub, scopes=self.scopes, tenant=FUKUOKA)

        response = await client.get(
            self.service_probe, headers={"Authorization": f"Bearer {token}"}
        )

        assert response.status_code == 404, response.text
