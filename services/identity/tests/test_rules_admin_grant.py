"""boshi_core's rules admin scope as identity's roles grant it (migration 0009)."""

import jwt

from .conftest import Identity


async def boshi_scopes_of(
    idp: Identity, login: str, roles: list[str], ward: str | None
) -> set[str]:
    staff = await idp.make_staff(login, roles, ward=ward)
    response = await idp.login(staff)
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    return {s for s in claims["scope"].split() if s.startswith("boshi:")}


async def test_only_the_rules_admin_role_may_add_rule_versions(idp: Identity) -> None:
    assert await boshi_scopes_of(idp, "rules-admin", ["mch_rules_admin"], None) == {
        "boshi:rules:admin"
    }
    assert "boshi:rules:admin" not in await boshi_scopes_of(idp, "rules-city", ["mch_staff"], None)
    assert "boshi:rules:admin" not in await boshi_scopes_of(
        idp, "rules-ward", ["ward_mch_staff"], "401099"
    )
