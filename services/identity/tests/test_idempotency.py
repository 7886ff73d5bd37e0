"""Safe retries on identity (mch_common.idempotency): a suspension retried with its
Idempotency-Key gets the same answer and suspends once; a user issuance retried is not shown
the initial password again (it is shown once) but is told it was done, and issues one user."""

import uuid

from sqlalchemy import func, select

from identity.users.models import User
from mch_common.db import unit_of_work

from .conftest import Identity


async def test_a_lost_suspension_answer_retried_suspends_once(idp: Identity) -> None:
    admin = await idp.admin()
    staff = await idp.make_staff("suspended01", ["mch_staff"])
    retry = {**admin, "Idempotency-Key": str(uuid.uuid4())}
    path = f"/admin/users/{staff.user_id}/suspend"
    first = await idp.client.post(path, headers=retry)
    assert first.status_code == 200, first.text
    again = await idp.client.post(path, headers=retry)
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotency-replayed"] == "true"
    assert await idp.event_types_about(staff.user_id) == ["identity.user.suspended"]


async def test_a_retried_issuance_is_not_shown_the_password_again(idp: Identity) -> None:
    admin = await idp.admin()
    retry = {**admin, "Idempotency-Key": str(uuid.uuid4())}
    body = {
        "login_id": "retried01",
        "display_name": "再送 職員",
        "dept": "子育て支援課",
        "roles": ["mch_staff"],
    }
    issued = await idp.client.post("/admin/users", headers=retry, json=body)
    assert issued.status_code == 201, issued.text
    password = issued.json()["initial_password"]
    again = await idp.client.post("/admin/users", headers=retry, json=body)
    assert again.status_code == 409
    assert "not kept" in again.json()["detail"]
    assert password not in again.text
    async with unit_of_work(idp.app.state.sessions) as session:
        users = await session.scalar(
            select(func.count()).select_from(User).where(User.login_id == "retried01")
        )
    assert users == 1
