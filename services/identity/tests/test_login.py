"""Staff login: every refusal is a clear problem+json answer, counted and audited."""

from datetime import date, timedelta

import jwt
from sqlalchemy import select

from identity.users.models import User
from mch_common.dates import today_tokyo

from .conftest import HQ_TERMINAL, PASSWORD, WARD_TERMINAL, Identity


async def test_login_issues_signed_token_with_the_promised_claims(idp: Identity) -> None:
    staff = await idp.make_staff(
        "ward01", ["ward_mch_staff"], ward="401099", dept="八幡西区保健福祉課"
    )
    response = await idp.login(staff)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "ES256"
    assert header["kid"] == idp.ctx.keyring.signing_kid
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == staff.user_id
    assert claims["ward"] == "401099"
    assert claims["dept"] == "八幡西区保健福祉課"
    assert claims["roles"] == ["ward_mch_staff"]
    assert claims["terminal"] == staff.terminal
    assert claims["aud"] == idp.ctx.settings.jwt_audience
    assert claims["iss"] == idp.ctx.settings.jwt_issuer
    assert claims["tenant"] == "401005"
    # iat to the microsecond (revocations compare it exactly), exp in whole seconds
    assert isinstance(claims["iat"], float)
    assert claims["exp"] == int(claims["iat"]) + idp.ctx.settings.access_token_ttl_seconds
    assert "boshi:pregnancy:read" in claims["scope"].split()
    assert "identity:user:admin" not in claims["scope"].split()
    assert body["refresh_token"]
    me = await idp.client.get(
        "/oauth2/me", headers={"authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["login_id"] == "ward01"
    [record] = [r for r in await idp.audit("identity.login") if r.actor == staff.user_id]
    assert (record.actor, record.terminal, record.outcome) == (
        staff.user_id,
        staff.terminal,
        "success",
    )


async def test_city_wide_role_gives_null_ward_and_scope_can_be_narrowed(idp: Identity) -> None:
    staff = await idp.make_staff("city01", ["mch_staff"])
    response = await idp.login(staff)
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["ward"] is None
    narrowed = await idp.client.post(
        "/oauth2/token",
        data={
            "grant_type": "password",
            "username": "city01",
            "password": PASSWORD,
            "totp": staff.code(offset_steps=1),
            "terminal_id": staff.terminal,
            "scope": "boshi:pregnancy:read identity:user:admin",
        },
    )
    assert narrowed.status_code == 400
    assert narrowed.json()["type"].endswith("/invalid-scope")


async def test_wrong_password_and_unknown_user_get_the_same_answer(idp: Identity) -> None:
    staff = await idp.make_staff("pw01", ["mch_staff"])
    wrong = await idp.login(staff, password="not-the-password-1")
    staff.login_id = "nobody-here"
    unknown = await idp.login(staff)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/invalid-credentials")
        assert response.json()["detail"] == "The user id or password is incorrect."
    records = [
        r
        for r in await idp.audit("identity.login")
        if r.detail.get("login_id") in {"pw01", "nobody-here"}
    ]
    assert [(r.outcome, r.detail["reason"]) for r in records] == [
        ("failure", "invalid_credentials"),
        ("failure", "invalid_credentials"),
    ]
    assert records[1].actor == "unknown"


async def test_wrong_totp_code_is_refused(idp: Identity) -> None:
    staff = await idp.make_staff("totp01", ["mch_staff"])
    valid = {staff.code(offset_steps=k) for k in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in valid)
    response = await idp.login(staff, code=wrong)
    assert response.status_code == 401
    assert response.json()["type"].endswith("/invalid-second-factor")
    assert "wrong" in response.json()["detail"]


async def test_replayed_totp_code_is_refused(idp: Identity) -> None:
    staff = await idp.make_staff("totp02", ["mch_staff"])
    code = staff.code()
    assert (await idp.login(staff, code=code)).status_code == 200
    replay = await idp.login(staff, code=code)
    assert replay.status_code == 401
    assert replay.json()["type"].endswith("/invalid-second-factor")
    assert "already used" in replay.json()["detail"]
    # An earlier code of the window is a replay too.
    older = await idp.login(staff, code=staff.code(offset_steps=-1))
    assert older.status_code == 401


async def test_unregistered_or_deactivated_terminal_is_refused(idp: Identity) -> None:
    staff = await idp.make_staff("term01", ["mch_staff"])
    response = await idp.login(staff, terminal="PRIVATE-LAPTOP")
    assert response.status_code == 403
    assert response.json()["type"].endswith("/unregistered-terminal")
    netops = await idp.make_staff("netops01", ["network_operator"])
    headers = {"authorization": f"Bearer {await idp.token(netops)}"}
    deactivated = await idp.client.post(
        f"/admin/terminals/{staff.terminal}/deactivate", headers=headers
    )
    assert deactivated.status_code == 200
    assert deactivated.json()["active"] is False
    again = await idp.login(staff)
    assert again.status_code == 403
    assert again.json()["type"].endswith("/unregistered-terminal")


async def test_repeated_failures_lock_the_account(idp: Identity) -> None:
    staff = await idp.make_staff("lock01", ["mch_staff"])
    for _ in range(idp.ctx.settings.lockout_threshold):
        response = await idp.login(staff, password="not-the-password-1")
        assert response.status_code == 401
    locked = await idp.login(staff)  # the right password does not help while locked
    assert locked.status_code == 403
    assert locked.json()["type"].endswith("/account-locked")
    assert "locked until" in locked.json()["detail"]
    admin = await idp.admin()
    unlocked = await idp.client.post(f"/admin/users/{staff.user_id}/unlock", headers=admin)
    assert unlocked.status_code == 200
    assert (await idp.login(staff)).status_code == 200


async def test_wrong_totp_codes_count_towards_the_lockout(idp: Identity) -> None:
    staff = await idp.make_staff("lock02", ["mch_staff"])
    valid = {staff.code(offset_steps=k) for k in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in valid)
    for _ in range(idp.ctx.settings.lockout_threshold):
        await idp.login(staff, code=wrong)
    assert (await idp.login(staff)).json()["type"].endswith("/account-locked")


async def test_expired_or_future_validity_is_refused(idp: Identity) -> None:
    today = today_tokyo()
    expired = await idp.make_staff(
        "old01", ["mch_staff"], valid_from=date(2020, 4, 1), valid_until=today - timedelta(days=1)
    )
    response = await idp.login(expired)
    assert response.status_code == 403
    assert response.json()["type"].endswith("/account-inactive")
    assert "validity period ended" in response.json()["detail"]
    future = await idp.make_staff("new01", ["mch_staff"], valid_from=today + timedelta(days=7))
    response = await idp.login(future)
    assert response.status_code == 403
    assert "valid from" in response.json()["detail"]


async def test_revoked_and_suspended_users_are_refused(idp: Identity) -> None:
    admin = await idp.admin()
    revoked = await idp.make_staff("gone01", ["mch_staff"])
    suspended = await idp.make_staff("pause01", ["mch_staff"])
    assert (
        await idp.client.post(
            f"/admin/users/{revoked.user_id}/revoke", headers=admin, json={"reason": "退職"}
        )
    ).status_code == 200
    assert (
        await idp.client.post(f"/admin/users/{suspended.user_id}/suspend", headers=admin)
    ).status_code == 200
    for staff, state in ((revoked, "revoked"), (suspended, "suspended")):
        response = await idp.login(staff)
        assert response.status_code == 403
        assert response.json()["type"].endswith("/account-inactive")
        assert f"the account is {state}" in response.json()["detail"]
    # A revoked id cannot come back; a suspended one can.
    assert (
        await idp.client.post(f"/admin/users/{revoked.user_id}/reinstate", headers=admin)
    ).status_code == 409
    assert (
        await idp.client.post(f"/admin/users/{suspended.user_id}/reinstate", headers=admin)
    ).status_code == 200
    assert (await idp.login(suspended)).status_code == 200


async def test_missing_form_fields_and_unknown_grant_are_clear(idp: Identity) -> None:
    missing = await idp.client.post(
        "/oauth2/token", data={"grant_type": "password", "username": "x", "password": "y"}
    )
    assert missing.status_code == 422
    assert "totp" in missing.json()["detail"]
    assert "terminal_id" in missing.json()["detail"]
    unknown = await idp.client.post("/oauth2/token", data={"grant_type": "implicit"})
    assert unknown.status_code == 400
    assert unknown.json()["type"].endswith("/unsupported-grant-type")


async def test_failed_login_changes_persist_although_the_request_failed(idp: Identity) -> None:
    staff = await idp.make_staff("count01", ["mch_staff"])
    await idp.login(staff, password="not-the-password-1")
    await idp.login(staff, password="not-the-password-1")
    async with idp.app.state.sessions() as session:
        user = (await session.execute(select(User).where(User.login_id == "count01"))).scalar_one()
    assert user.failed_attempts == 2


async def test_a_ward_terminal_serves_only_its_own_ward(idp: Identity) -> None:
    """registry01 of 401064 on WARD-401099-01 was let in: a terminal belongs to its place."""
    other_ward = await idp.make_staff("w401064", ["ward_mch_staff"], ward="401064")
    own_ward = await idp.make_staff("w401099", ["ward_mch_staff"], ward="401099")
    city_wide = await idp.make_staff("hq01", ["mch_staff"])

    refused = await idp.login(other_ward, terminal=WARD_TERMINAL)
    assert refused.status_code == 403
    problem = refused.json()
    assert problem["type"].endswith("/terminal-of-another-ward")
    assert WARD_TERMINAL in problem["detail"]
    assert "access_token" not in problem
    record = (await idp.audit("identity.login"))[-1]
    assert (record.outcome, record.target_id, record.terminal) == (
        "failure",
        other_ward.user_id,
        WARD_TERMINAL,
    )
    assert record.detail["reason"] == "terminal_of_another_ward"

    # Headquarters terminals serve anyone; a ward's own terminal serves its staff.
    assert (await idp.login(other_ward, code=other_ward.code(offset_steps=1))).status_code == 200
    assert (await idp.login(own_ward, terminal=WARD_TERMINAL)).status_code == 200
    assert (await idp.login(city_wide, terminal=HQ_TERMINAL)).status_code == 200
