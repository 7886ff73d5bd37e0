"""e_application's scopes as identity's roles grant them (migration 0006)."""

import jwt

from .conftest import Identity


async def _eapp_scopes(idp: Identity, login: str, roles: list[str], ward: str | None) -> set[str]:
    staff = await idp.make_staff(login, roles, ward=ward)
    response = await idp.login(staff)
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    return {s for s in claims["scope"].split() if s.startswith("eapp:")}


async def test_each_role_gets_the_e_application_scopes_it_needs(idp: Identity) -> None:
    assert await _eapp_scopes(idp, "eapp-rev", ["eapp_reviewer"], None) == {
        "eapp:application:read",
        "eapp:application:review",
        "eapp:retention:delete",
    }
    assert await _eapp_scopes(idp, "eapp-ward", ["ward_mch_staff"], "401099") == {
        "eapp:application:read",
        "eapp:application:review",
    }
    assert await _eapp_scopes(idp, "eapp-city", ["mch_staff"], None) == {
        "eapp:application:read",
        "eapp:disclosure:export",
    }
    assert await _eapp_scopes(idp, "eapp-audit", ["auditor"], None) == {"eapp:audit:read"}
