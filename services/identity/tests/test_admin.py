"""User administration: issue, import, transfers, the user-list export and its review."""

import csv
import io
from datetime import timedelta

import jwt
from sqlalchemy import update

from identity.reviews.service import EXPORT_COLUMNS
from identity.users.models import UserTransfer
from mch_common.dates import today_tokyo
from mch_common.db import unit_of_work

from .conftest import Identity, Staff


async def test_admin_scope_is_required(idp: Identity) -> None:
    staff = await idp.make_staff("plain01", ["mch_staff"])
    bearer = {"authorization": f"Bearer {await idp.token(staff)}"}
    response = await idp.client.get("/admin/users", headers=bearer)
    assert response.status_code == 403
    assert response.json()["detail"] == "missing scope identity:user:admin"
    assert (await idp.client.get("/admin/users")).status_code == 401


async def test_issue_validates_roles_against_ward_and_refuses_reuse(idp: Identity) -> None:
    admin = await idp.admin()
    issued = await idp.client.post(
        "/admin/users",
        headers=admin,
        json={
            "login_id": "new01",
            "display_name": "新規 職員",
            "dept": "門司区保健福祉課",
            "ward": "401013",
            "roles": ["ward_mch_staff"],
        },
    )
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["initial_password"]
    assert issued.headers["cache-control"] == "no-store"
    assert body["totp_uri"].startswith("otpauth://totp/")
    assert body["user"]["second_factor_enrolled"] is False
    staff = Staff(body["user"]["id"], "new01", body["totp_secret"])
    # The administrator knows the initial password: its owner must choose one first.
    first = await idp.login(
        staff, password=body["initial_password"], code=staff.code(offset_steps=-1)
    )
    assert first.status_code == 403
    assert first.json()["type"].endswith("/password-expired")
    changed = await idp.client.post(
        "/oauth2/password",
        data={
            "username": "new01",
            "password": body["initial_password"],
            "totp": staff.code(),
            "terminal_id": staff.terminal,
            "new_password": "かもめ大橋を渡る朝の海風です",
        },
    )
    assert changed.status_code == 204, changed.text
    login = await idp.login(
        staff, password="かもめ大橋を渡る朝の海風です", code=staff.code(offset_steps=1)
    )
    assert login.status_code == 200
    fetched = await idp.client.get(f"/admin/users/{staff.user_id}", headers=admin)
    assert fetched.json()["second_factor_enrolled"] is True

    again = await idp.client.post(
        "/admin/users",
        headers=admin,
        json={"login_id": "new01", "display_name": "x", "dept": "x", "roles": ["mch_staff"]},
    )
    assert again.status_code == 409
    wrong_level = await idp.client.post(
        "/admin/users",
        headers=admin,
        json={"login_id": "new02", "display_name": "x", "dept": "x", "roles": ["ward_mch_staff"]},
    )
    assert wrong_level.status_code == 422
    assert "ward is required" in wrong_level.json()["detail"]
    weak = await idp.client.post(
        "/admin/users",
        headers=admin,
        json={
            "login_id": "new03",
            "display_name": "x",
            "dept": "x",
            "roles": ["mch_staff"],
            "password": "short",
        },
    )
    assert weak.status_code == 422
    assert weak.json()["errors"][0]["type"] == "password_policy"


async def test_csv_import_reports_every_bad_line_and_imports_nothing(idp: Identity) -> None:
    admin = await idp.admin()
    bad = (
        "login_id,display_name,dept,ward,roles,valid_from,valid_until\n"
        "imp01,一郎,子育て支援課,,mch_staff,2026-04-01,\n"
        "imp02,二郎,八幡西区保健福祉課,401099,ward_mch_staff nosuchrole,,\n"
        "imp01,三郎,子育て支援課,999999,mch_staff,yesterday,\n"
        "imp04,四郎,子育て支援課,,,,\n"
    )
    response = await idp.client.post(
        "/admin/users/import", headers={**admin, "content-type": "text/csv"}, content=bad
    )
    assert response.status_code == 422
    problems = response.json()["errors"]
    assert {(p["line"], p["field"]) for p in problems} == {
        (3, "roles"),
        (4, "login_id"),
        (4, "ward"),
        (4, "roles"),
        (4, "valid_from"),
        (5, "roles"),
    }
    assert (await idp.client.get("/admin/users", headers=admin)).json()[0]["login_id"] == "admin01"
    assert len((await idp.client.get("/admin/users", headers=admin)).json()) == 1

    good = (
        "login_id,display_name,dept,ward,roles,valid_from,valid_until\n"
        "imp01,一郎,子育て支援課,,mch_staff,2026-04-01,\n"
        "imp02,二郎,八幡西区保健福祉課,401099,ward_mch_staff,,\n"
    )
    dry = await idp.client.post(
        "/admin/users/import?dry_run=true",
        headers={**admin, "content-type": "text/csv"},
        content=good,
    )
    assert dry.status_code == 200
    assert dry.json() == {"dry_run": True, "imported": [], "errors": []}
    done = await idp.client.post(
        "/admin/users/import", headers={**admin, "content-type": "text/csv"}, content=good
    )
    assert done.status_code == 200, done.text
    assert [u["login_id"] for u in done.json()["imported"]] == ["imp01", "imp02"]
    assert all(u["initial_password"] and u["totp_secret"] for u in done.json()["imported"])


async def test_future_dated_transfer_applies_on_its_date(idp: Identity) -> None:
    admin = await idp.admin()
    staff = await idp.make_staff("fut01", ["ward_mch_staff"], ward="401099")
    tomorrow = today_tokyo() + timedelta(days=1)
    scheduled = await idp.client.post(
        f"/admin/users/{staff.user_id}/transfers",
        headers=admin,
        json={
            "effective_date": tomorrow.isoformat(),
            "ward": None,
            "dept": "子育て支援課",
            "roles": ["mch_staff"],
            "reason": "4月1日付 人事異動",
        },
    )
    assert scheduled.status_code == 201, scheduled.text
    assert scheduled.json()["status"] == "pending"
    token = await idp.token(staff)
    assert jwt.decode(token, options={"verify_signature": False})["ward"] == "401099"

    # The date arrives (simulated by moving the transfer to today).
    async with unit_of_work(idp.app.state.sessions) as session:
        await session.execute(update(UserTransfer).values(effective_date=today_tokyo()))
    # Applied before the next token is issued (the maintenance task would apply it too),
    # and the token issued before the transfer is refused.
    assert (
        await idp.client.get("/oauth2/me", headers={"authorization": f"Bearer {token}"})
    ).status_code == 200
    new_token = await idp.token(staff, code=staff.code(offset_steps=1))
    claims = jwt.decode(new_token, options={"verify_signature": False})
    assert claims["ward"] is None
    assert claims["roles"] == ["mch_staff"]
    assert (
        await idp.client.get("/oauth2/me", headers={"authorization": f"Bearer {token}"})
    ).status_code == 401
    history = (
        await idp.client.get(f"/admin/users/{staff.user_id}/transfers", headers=admin)
    ).json()
    assert [t["status"] for t in history] == ["applied"]


async def test_maintenance_applies_due_transfers(idp: Identity) -> None:
    from identity.maintenance import run_once

    admin = await idp.admin()
    staff = await idp.make_staff("fut02", ["ward_mch_staff"], ward="401099")
    tomorrow = today_tokyo() + timedelta(days=1)
    await idp.client.post(
        f"/admin/users/{staff.user_id}/transfers",
        headers=admin,
        json={
            "effective_date": tomorrow.isoformat(),
            "ward": "401064",
            "dept": "小倉北区保健福祉課",
            "roles": ["ward_mch_staff"],
        },
    )
    assert await run_once(idp.app.state.sessions, idp.ctx) == 0
    async with unit_of_work(idp.app.state.sessions) as session:
        await session.execute(update(UserTransfer).values(effective_date=today_tokyo()))
    assert await run_once(idp.app.state.sessions, idp.ctx) == 1
    user = (await idp.client.get(f"/admin/users/{staff.user_id}", headers=admin)).json()
    assert user["ward"] == "401064"


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_user_list_export_and_review_diff(idp: Identity) -> None:
    admin = await idp.admin()
    auditor = await idp.make_staff("audit01", ["auditor"])
    auditor_headers = {"authorization": f"Bearer {await idp.token(auditor)}"}
    stays = await idp.make_staff("b-stays", ["mch_staff"])
    moves = await idp.make_staff("c-moves", ["ward_mch_staff"], ward="401099")
    leaves = await idp.make_staff("a-leaves", ["center_staff"])

    export = await idp.client.get("/admin/users/export.csv", headers=admin)
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    header = export.text.splitlines()[0]
    assert header == ",".join(EXPORT_COLUMNS)
    logins = [r["login_id"] for r in _rows(export.text)]
    assert logins == sorted(logins)
    again = await idp.client.get("/admin/users/export.csv", headers=admin)
    assert again.text == export.text  # nothing changed, byte-identical

    first = await idp.client.post("/admin/user-reviews", headers=admin, json={"note": "4月期"})
    assert first.status_code == 201, first.text
    assert first.json()["number"] == 1
    assert len(first.json()["diff"]["added"]) == 5

    # Changes: a transfer, a suspension, a deletion, a new user.
    await idp.client.post(
        f"/admin/users/{moves.user_id}/transfers",
        headers=admin,
        json={"ward": "401064", "dept": "小倉北区保健福祉課", "roles": ["ward_mch_staff"]},
    )
    await idp.client.post(f"/admin/users/{stays.user_id}/suspend", headers=admin)
    assert (
        await idp.client.delete(f"/admin/users/{leaves.user_id}", headers=admin)
    ).status_code == 200
    await idp.make_staff("d-joins", ["eapp_reviewer"])

    pending = await idp.client.get("/admin/user-reviews/pending-changes", headers=auditor_headers)
    assert pending.status_code == 200
    second = await idp.client.post("/admin/user-reviews", headers=admin, json={})
    diff = second.json()["diff"]
    assert pending.json()["since_review"] == 1
    assert {k: pending.json()[k] for k in ("added", "changed", "removed")} == diff
    assert [r["login_id"] for r in diff["added"]] == ["d-joins"]
    assert [r["login_id"] for r in diff["removed"]] == ["a-leaves"]
    changed = {c["login_id"]: c["fields"] for c in diff["changed"]}
    assert changed["b-stays"] == {"status": {"before": "active", "after": "suspended"}}
    assert changed["c-moves"]["ward"] == {"before": "401099", "after": "401064"}
    assert changed["c-moves"]["dept"]["after"] == "小倉北区保健福祉課"

    review_id = second.json()["id"]
    diff_csv = await idp.client.get(
        f"/admin/user-reviews/{review_id}/diff.csv", headers=auditor_headers
    )
    lines = diff_csv.text.splitlines()
    assert lines[0] == "change,login_id,user_id,field,before,after"
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["removed", "a-leaves"],
        ["changed", "b-stays"],
        ["changed", "c-moves"],
        ["changed", "c-moves"],
        ["changed", "c-moves"],
        ["added", "d-joins"],
    ]
    snapshot = await idp.client.get(
        f"/admin/user-reviews/{review_id}/users.csv", headers=auditor_headers
    )
    current = await idp.client.get("/admin/users/export.csv", headers=admin)
    assert snapshot.text == current.text

    # Sign-off is the auditor's, never the author's.
    own = await idp.client.post(f"/admin/user-reviews/{review_id}/sign-off", headers=admin, json={})
    assert own.status_code == 403
    signed = await idp.client.post(
        f"/admin/user-reviews/{review_id}/sign-off",
        headers=auditor_headers,
        json={"note": "確認済"},
    )
    assert signed.status_code == 200
    assert signed.json()["signed_off_by"] == auditor.user_id
    nothing = await idp.client.get("/admin/user-reviews/pending-changes", headers=admin)
    assert nothing.json()["added"] == nothing.json()["changed"] == nothing.json()["removed"] == []


async def test_every_admin_action_is_audited_and_the_chain_verifies(idp: Identity) -> None:
    admin = await idp.admin()
    auditor = await idp.make_staff("audit02", ["auditor"])
    auditor_headers = {"authorization": f"Bearer {await idp.token(auditor)}"}
    staff = await idp.make_staff("aud01", ["mch_staff"])
    await idp.client.post(f"/admin/users/{staff.user_id}/suspend", headers=admin)
    await idp.client.put(
        f"/admin/users/{staff.user_id}/roles", headers=admin, json={"roles": ["center_staff"]}
    )
    records = (
        await idp.client.get(
            "/admin/audit", headers=auditor_headers, params={"target_id": staff.user_id}
        )
    ).json()["items"]
    assert [r["action"] for r in records] == [  # newest first
        "identity.user.roles_change",
        "identity.user.suspend",
        "identity.user.issue",
    ]
    assert records[1]["detail"]["before"] == "active"
    verified = (await idp.client.get("/admin/audit/verify", headers=auditor_headers)).json()
    assert verified["ok"] is True
    assert (await idp.client.get("/admin/audit", headers=admin)).status_code == 403


async def test_delete_is_soft_announced_and_the_id_is_never_reused(idp: Identity) -> None:
    admin = await idp.admin()
    staff = await idp.make_staff("del01", ["mch_staff"])
    deleted = await idp.client.delete(f"/admin/users/{staff.user_id}", headers=admin)
    assert deleted.status_code == 200
    assert deleted.json()["deleted_at"] is not None
    login = await idp.login(staff)
    assert login.status_code == 401
    assert login.json()["type"].endswith("/invalid-credentials")
    listed = await idp.client.get("/admin/users?include_deleted=true", headers=admin)
    assert "del01" in [u["login_id"] for u in listed.json()]
    reuse = await idp.client.post(
        "/admin/users",
        headers=admin,
        json={"login_id": "del01", "display_name": "x", "dept": "x", "roles": ["mch_staff"]},
    )
    assert reuse.status_code == 409
    assert await idp.event_types_about(staff.user_id) == ["identity.user.deleted"]


async def test_an_update_with_null_for_a_required_field_is_422_and_changes_nothing(
    idp: Identity,
) -> None:
    """`valid_from: null` compared a date with None and answered 500."""
    admin = await idp.admin()
    staff = await idp.make_staff("nul01", ["mch_staff"])
    before = (await idp.client.get(f"/admin/users/{staff.user_id}", headers=admin)).json()
    for body, field in (
        ({"valid_from": None}, "valid_from"),
        ({"display_name": None, "valid_until": "2099-03-31"}, "display_name"),
    ):
        response = await idp.client.patch(f"/admin/users/{staff.user_id}", headers=admin, json=body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in str(response.json()["errors"])
    after = (await idp.client.get(f"/admin/users/{staff.user_id}", headers=admin)).json()
    assert after == before
    # An open end is a value: valid_until may be null.
    cleared = await idp.client.patch(
        f"/admin/users/{staff.user_id}", headers=admin, json={"valid_until": None}
    )
    assert cleared.status_code == 200, cleared.text
