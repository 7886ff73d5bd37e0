"""The immunization bridge's scopes as identity's roles grant them (migrations 0005, 0008)."""

import jwt

from .conftest import Identity


async def scopes_of(idp: Identity, login: str, roles: list[str], ward: str | None) -> set[str]:
    staff = await idp.make_staff(login, roles, ward=ward)
    response = await idp.login(staff)
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    return {s for s in claims["scope"].split() if s.startswith("immunization:")}


async def test_each_role_gets_the_bridges_scopes_it_needs(idp: Identity) -> None:
    assert await scopes_of(idp, "imm-city", ["mch_staff"], None) == {
        "immunization:record:import",
        "immunization:status:read",
        "immunization:disclosure:export",
        "immunization:register_file:export",
    }
    assert await scopes_of(idp, "imm-ward", ["ward_mch_staff"], "401099") == {
        "immunization:status:read"
    }
    assert await scopes_of(idp, "imm-audit", ["auditor"], None) == {"immunization:audit:read"}
