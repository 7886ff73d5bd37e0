"""The user-list export and its periodic review.

The export is one row per user id that is not deleted, sorted by login id, with fixed columns,
so two exports can be compared with any diff tool. A review records the export (rows and the
SHA-256 of the CSV) and what changed since the previous review: users added, changed (field by
field) and removed (deleted). An auditor signs it off.
"""

import csv
import hashlib
import io
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from identity.reviews import repository
from identity.reviews.models import UserReview
from identity.users import repository as users
from mch_common.auth.principal import Principal
from mch_common.errors import Conflict, NotFound
from mch_common.lgcode import KITAKYUSHU_WARDS
from mch_common.work import UnitOfWork

EXPORT_COLUMNS = (
    "login_id",
    "user_id",
    "display_name",
    "dept",
    "ward",
    "ward_name",
    "roles",
    "status",
    "valid_from",
    "valid_until",
    "pending_transfer",
)
DIFF_COLUMNS = ("change", "login_id", "user_id", "field", "before", "after")


async def export_rows(session: AsyncSession) -> list[dict[str, str]]:
    pending = await users.pending_transfers(session)
    rows: list[dict[str, str]] = []
    for user in await users.list_users(session):
        transfer = pending.get(user.id)
        rows.append(
            {
                "login_id": user.login_id,
                "user_id": str(user.id),
                "display_name": user.display_name,
                "dept": user.dept,
                "ward": user.ward or "",
                "ward_name": KITAKYUSHU_WARDS.get(user.ward, "") if user.ward else "(全市)",
                "roles": " ".join(user.role_names),
                "status": user.status,
                "valid_from": user.valid_from.isoformat(),
                "valid_until": user.valid_until.isoformat() if user.valid_until else "",
                "pending_transfer": (
                    f"{transfer.effective_date.isoformat()} ward={transfer.ward or '-'} "
                    f"dept={transfer.dept} roles={','.join(transfer.roles)}"
                    if transfer
                    else ""
                ),
            }
        )
    rows.sort(key=lambda r: r["login_id"])
    return rows


def to_csv(rows: Sequence[dict[str, str]], columns: Sequence[str] = EXPORT_COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def diff_rows(before: Sequence[dict[str, str]], after: Sequence[dict[str, str]]) -> dict[str, Any]:
    """Keyed by user id (login ids are never reused either); every list sorted by login id."""
    old = {r["user_id"]: r for r in before}
    new = {r["user_id"]: r for r in after}
    added = sorted((new[k] for k in new.keys() - old.keys()), key=lambda r: r["login_id"])
    removed = sorted((old[k] for k in old.keys() - new.keys()), key=lambda r: r["login_id"])
    changed: list[dict[str, Any]] = []
    for key in old.keys() & new.keys():
        fields = {
            c: {"before": old[key].get(c, ""), "after": new[key].get(c, "")}
            for c in EXPORT_COLUMNS
            if old[key].get(c, "") != new[key].get(c, "")
        }
        if fields:
            changed.append({"login_id": new[key]["login_id"], "user_id": key, "fields": fields})
    changed.sort(key=lambda c: c["login_id"])
    return {"added": added, "changed": changed, "removed": removed}


def diff_csv(diff: dict[str, Any]) -> str:
    lines: list[dict[str, str]] = []
    for row in diff["added"]:
        lines.append(
            {
                "change": "added",
                "login_id": row["login_id"],
                "user_id": row["user_id"],
                "field": "",
                "before": "",
                "after": "",
            }
        )
    for change in diff["changed"]:
        for field, values in sorted(change["fields"].items()):
            lines.append(
                {
                    "change": "changed",
                    "login_id": change["login_id"],
                    "user_id": change["user_id"],
                    "field": field,
                    "before": values["before"],
                    "after": values["after"],
                }
            )
    for row in diff["removed"]:
        lines.append(
            {
                "change": "removed",
                "login_id": row["login_id"],
                "user_id": row["user_id"],
                "field": "",
                "before": "",
                "after": "",
            }
        )
    lines.sort(key=lambda r: (r["login_id"], r["change"], r["field"]))
    return to_csv(lines, DIFF_COLUMNS)


async def export_csv(session: AsyncSession, *, actor: Principal) -> str:
    rows = await export_rows(session)
    UnitOfWork.of(session).record_access(
        actor, action="identity.user_list.export", detail={"users": len(rows)}
    )
    return to_csv(rows)


async def pending_changes(session: AsyncSession, *, actor: Principal) -> dict[str, Any]:
    """What a review made now would list, without recording one."""
    previous = await repository.last_review(session)
    diff = diff_rows(previous.rows if previous else [], await export_rows(session))
    return {"since_review": previous.number if previous else None, **diff}


async def create_review(session: AsyncSession, *, actor: Principal, note: str | None) -> UserReview:
    await repository.lock_numbering(session)
    previous = await repository.last_review(session)
    rows = await export_rows(session)
    review = UserReview(
        id=uuid.uuid4(),
        number=(previous.number + 1) if previous else 1,
        created_by=actor.sub,
        created_at=datetime.now(UTC),
        previous_id=previous.id if previous else None,
        rows=rows,
        csv_sha256=hashlib.sha256(to_csv(rows).encode()).hexdigest(),
        diff=diff_rows(previous.rows if previous else [], rows),
        note=note,
    )
    session.add(review)
    await session.flush()
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.user_list.review",
        target_type="user_review",
        target_id=str(review.id),
        detail={
            "number": review.number,
            "users": len(rows),
            "csv_sha256": review.csv_sha256,
            "added": len(review.diff["added"]),
            "changed": len(review.diff["changed"]),
            "removed": len(review.diff["removed"]),
        },
    )
    return review


async def get_review(session: AsyncSession, *, review_id: uuid.UUID) -> UserReview:
    review = await session.get(UserReview, review_id)
    if review is None:
        raise NotFound("no such review")
    return review


async def list_reviews(session: AsyncSession) -> Sequence[UserReview]:
    return await repository.list_reviews(session)


async def sign_off(
    session: AsyncSession, *, actor: Principal, review_id: uuid.UUID, note: str | None
) -> UserReview:
    review = await session.get(UserReview, review_id, with_for_update=True)
    if review is None:
        raise NotFound("no such review")
    if review.signed_off_at is not None:
        raise Conflict("the review is already signed off")
    if review.created_by == actor.sub:
        raise Conflict("the review must be signed off by someone other than its author")
    review.signed_off_by = actor.sub
    review.signed_off_at = datetime.now(UTC)
    if note:
        review.note = f"{review.note or ''}\n{note}".strip()
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.user_list.sign_off",
        target_type="user_review",
        target_id=str(review.id),
        detail={"number": review.number},
    )
    return review
