"""The intermediate server's scopes as identity's roles grant them (migrations 0007, 0013)."""

import jwt

from .conftest import Identity


async def ims_scopes_of(idp: Identity, login: str, roles: list[str], ward: str | None) -> set[str]:
    staff = await idp.make_staff(login, roles, ward=ward)
    response = await idp.login(staff)
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    return {s for s in claims["scope"].split() if s.startswith("ims:")}


async def test_each_role_gets_the_gateways_scopes_it_needs(idp: Identity) -> None:
    assert await ims_scopes_of(idp, "ims-city", ["mch_staff"], None) == {
        "ims:inquire",
        "ims:replica:write",
        "ims:approve",
        "ims:records:read",
    }
    assert await ims_scopes_of(idp, "ims-ward", ["ward_mch_staff"], "401099") == set()
    assert await ims_scopes_of(idp, "ims-clerk", ["registry_clerk"], None) == {"ims:code:write"}
    assert await ims_scopes_of(idp, "ims-ops", ["ims_operator"], None) == {
        "ims:system:admin",
        "ims:audit:read",
    }
    # Every municipality's system management is the platform operator's alone (migration 0013).
    assert await ims_scopes_of(idp, "ims-platform", ["ims_platform_operator"], None) == {
        "ims:platform:admin",
        "ims:system:admin",
        "ims:audit:read",
    }
    # A city's auditor does not read the platform's log of every municipality.
    assert await ims_scopes_of(idp, "ims-audit", ["auditor"], None) == set()
