"""Passwords are changed periodically (the assessment's measure): an expired password, or one an
administrator set, is refused at login until its owner changes it with POST /oauth2/password."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from sqlalchemy import select, update

from identity.tokens.models import RefreshToken
from identity.users.models import User
from mch_common.auth.revocation import RevocationList, apply_event
from mch_common.db import unit_of_work
from mch_common.events import read_outbox
from mch_common.events.envelope import CloudEvent

from .conftest import PASSWORD, Identity, Staff

NEW_PASSWORD = "紫川の橋を七つ数えて帰る道"


async def change(idp: Identity, staff: Staff, **overrides: str) -> httpx.Response:
    form = {
        "username": staff.login_id,
        "password": PASSWORD,
        "totp": staff.code(),
        "terminal_id": staff.terminal,
        "new_password": NEW_PASSWORD,
    } | overrides
    return await idp.client.post("/oauth2/password", data=form)


async def user_row(idp: Identity, staff: Staff) -> User:
    async with idp.app.state.sessions() as session:
        found = await session.execute(select(User).where(User.login_id == staff.login_id))
        user: User = found.scalar_one()  # the app's sessions are untyped app state
        return user


async def set_user(idp: Identity, staff: Staff, **values: Any) -> None:
    async with unit_of_work(idp.app.state.sessions) as session:
        await session.execute(update(User).where(User.login_id == staff.login_id).values(**values))


async def test_a_password_past_its_age_is_refused_until_changed(idp: Identity) -> None:
    staff = await idp.make_staff("old01", ["mch_staff"])
    await set_user(idp, staff, password_changed_at=datetime.now(UTC) - timedelta(days=91))

    refused = await idp.login(staff, code=staff.code(offset_steps=-1))
    assert refused.status_code == 403
    problem = refused.json()
    assert problem["type"].endswith("/password-expired")
    assert "older than 90 days" in problem["detail"]
    assert "POST /oauth2/password" in problem["detail"]
    assert "access_token" not in problem
    user = await user_row(idp, staff)
    assert user.failed_attempts == 0  # the credentials were right: no step towards a lockout
    assert (await idp.audit("identity.login"))[-1].detail["reason"] == "password_expired"

    changed = await change(idp, staff)
    assert changed.status_code == 204, changed.text
    user = await user_row(idp, staff)
    assert datetime.now(UTC) - user.password_changed_at < timedelta(minutes=1)
    assert (await idp.login(staff, code=staff.code(offset_steps=1))).status_code == 401  # old
    ok = await idp.login(staff, password=NEW_PASSWORD, code=staff.code(offset_steps=1))
    assert ok.status_code == 200, ok.text
    record = (await idp.audit("identity.password_change"))[-1]
    assert (record.outcome, record.target_id) == ("success", staff.user_id)
    assert NEW_PASSWORD not in str(record.detail)
    assert PASSWORD not in str(record.detail)


async def test_a_password_reset_by_an_administrator_must_be_changed(idp: Identity) -> None:
    admin = await idp.admin()
    staff = await idp.make_staff("reset01", ["mch_staff"])
    reset = await idp.client.post(
        f"/admin/users/{staff.user_id}/password", headers=admin, json={"password": PASSWORD}
    )
    assert reset.status_code in (200, 204), reset.text
    refused = await idp.login(staff)
    assert refused.status_code == 403
    assert "set by a user administrator" in refused.json()["detail"]


async def test_changing_refuses_every_token_held_before(idp: Identity) -> None:
    staff = await idp.make_staff("tok01", ["mch_staff"])
    before = (await idp.login(staff, code=staff.code(offset_steps=-1))).json()
    bearer = {"authorization": f"Bearer {before['access_token']}"}
    assert (await idp.client.get("/oauth2/me", headers=bearer)).status_code == 200

    assert (await change(idp, staff)).status_code == 204
    assert (await idp.client.get("/oauth2/me", headers=bearer)).status_code == 401
    refreshed = await idp.client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": before["refresh_token"]},
    )
    assert refreshed.status_code == 400
    # The other services learn it from the event, as for a suspension.
    assert "identity.user.password_changed" in await idp.event_types_about(staff.user_id)


async def test_a_refused_change_changes_nothing(idp: Identity) -> None:
    staff = await idp.make_staff("bad01", ["mch_staff"])
    before = await user_row(idp, staff)
    code = staff.code()

    weak = await change(idp, staff, totp=code, new_password="short")
    assert weak.status_code == 422
    assert {e["loc"][0] for e in weak.json()["errors"]} == {"new_password"}
    same = await change(idp, staff, totp=code, new_password=PASSWORD)
    assert same.status_code == 422  # the policy's check passed, the code was used up by it
    assert "current one" in same.json()["detail"]

    wrong = await change(
        idp, staff, password="not-the-password-at-all", totp=staff.code(offset_steps=1)
    )
    assert wrong.status_code == 401
    assert wrong.json()["type"].endswith("/invalid-credentials")
    after = await user_row(idp, staff)
    assert after.password_hash == before.password_hash
    assert after.password_changed_at == before.password_changed_at
    assert after.failed_attempts == 1  # a wrong password counts, as at login
    missing = await idp.client.post("/oauth2/password", data={"username": staff.login_id})
    assert missing.status_code == 422


async def test_no_expiry_when_the_maximum_age_is_zero(idp: Identity) -> None:
    staff = await idp.make_staff("noexp01", ["mch_staff"])
    await set_user(idp, staff, password_changed_at=datetime.now(UTC) - timedelta(days=3650))
    idp.ctx.settings.password_max_age_days = 0
    try:
        assert (await idp.login(staff)).status_code == 200
    finally:
        idp.ctx.settings.password_max_age_days = 90


async def _revocations_announced(idp: Identity) -> RevocationList:
    """What another service's revocation list holds once it has applied identity's events."""
    revocations = RevocationList()
    async with idp.app.state.sessions() as session:
        for envelope in await read_outbox(session):
            apply_event(revocations, CloudEvent.model_validate(envelope))
    return revocations


async def test_a_token_issued_in_the_second_of_a_suspension_is_refused_everywhere(
    idp: Identity,
) -> None:
    """Password change, login and suspension within one second: `iat` and `at` were whole
    seconds and the change had moved `iat` up to the next one, so the token outlived the
    suspension in every other service."""
    admin = await idp.admin()
    staff = await idp.make_staff("same01", ["mch_staff"])
    await asyncio.sleep(1 - time.time() % 1)  # the three steps start a fresh second

    assert (await change(idp, staff)).status_code == 204
    token = await idp.token(staff, password=NEW_PASSWORD, code=staff.code(offset_steps=1))
    suspended = await idp.client.post(f"/admin/users/{staff.user_id}/suspend", headers=admin)
    assert suspended.status_code == 200

    claims = jwt.decode(token, options={"verify_signature": False})
    assert (await _revocations_announced(idp)).is_revoked(claims)
    me = await idp.client.get("/oauth2/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 401


async def test_a_token_issued_after_a_password_change_survives_it(idp: Identity) -> None:
    staff = await idp.make_staff("after01", ["mch_staff"])
    assert (await change(idp, staff)).status_code == 204
    token = await idp.token(staff, password=NEW_PASSWORD, code=staff.code(offset_steps=1))
    claims = jwt.decode(token, options={"verify_signature": False})
    assert not (await _revocations_announced(idp)).is_revoked(claims)
    me = await idp.client.get("/oauth2/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 200


async def test_a_revocation_is_later_than_every_token_issued_even_by_a_clock_ahead(
    idp: Identity,
) -> None:
    """A token issued by an identity process whose clock runs ahead (or in the same tick of a
    coarse clock) is still refused: `at` follows the newest recorded `iat`."""
    admin = await idp.admin()
    staff = await idp.make_staff("ahead01", ["mch_staff"])
    token = await idp.token(staff)
    ahead = timedelta(seconds=2)
    async with unit_of_work(idp.app.state.sessions) as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == uuid.UUID(staff.user_id))
            .values(issued_at=RefreshToken.issued_at + ahead)
        )
    suspended = await idp.client.post(f"/admin/users/{staff.user_id}/suspend", headers=admin)
    assert suspended.status_code == 200

    claims = jwt.decode(token, options={"verify_signature": False})
    claims["iat"] += ahead.total_seconds()  # as that process would have signed it
    assert (await _revocations_announced(idp)).is_revoked(claims)
