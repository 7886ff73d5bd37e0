"""A refusal on a staff user's route leaves a committed access record (identity's persons are
its staff), and changes nothing else."""

import uuid

from .conftest import Identity


async def test_refused_reads_of_a_user_are_recorded(idp: Identity) -> None:
    staff = await idp.make_staff("plain01", ["mch_staff"])
    bearer = {"authorization": f"Bearer {await idp.token(staff)}"}
    refused = await idp.client.get(f"/admin/users/{staff.user_id}", headers=bearer)
    assert refused.status_code == 403
    anonymous = await idp.client.get(f"/admin/users/{staff.user_id}")
    assert anonymous.status_code == 401
    unknown = str(uuid.uuid4())
    admin = await idp.admin()
    missing = await idp.client.get(f"/admin/users/{unknown}", headers=admin)
    assert missing.status_code == 404
    records = [
        r
        for r in await idp.audit("GET /admin/users/{user_id}")
        if r.target_id in (staff.user_id, unknown)  # the log keeps other tests' records
    ]
    assert [(r.actor, r.outcome, r.target_type, r.target_id) for r in records] == [
        (staff.user_id, "refused", "staff_user", staff.user_id),
        ("anonymous", "unauthenticated", "staff_user", staff.user_id),
        (records[2].actor, "not_found", "staff_user", unknown),
    ]
    assert records[0].terminal == staff.terminal
    assert records[0].detail["reason"] == "missing scope identity:user:admin"
    # Staff are not residents: the person-keyed column names residents only.
    assert records[0].persons == []
