"""Bulk issue from CSV (一括登録): all or nothing, with a per-line error report."""

import csv
import io
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from identity.context import IdentityContext
from identity.users import repository
from identity.users.accounts import TARGET, IssuedUser, issue_user
from identity.users.validation import role_errors, ward_errors
from mch_common.auth.principal import Principal
from mch_common.errors import InvalidInput
from mch_common.work import UnitOfWork

IMPORT_COLUMNS = ("login_id", "display_name", "dept", "ward", "roles", "valid_from", "valid_until")


@dataclass(frozen=True)
class ImportReport:
    imported: list[IssuedUser]
    errors: list[dict[str, Any]]
    dry_run: bool


def _parse_date(value: str, field: str, problems: list[dict[str, Any]], line: int) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append({"line": line, "field": field, "msg": "not a date (YYYY-MM-DD)"})
        return None


async def import_users(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    actor: Principal,
    csv_text: str,
    dry_run: bool,
) -> ImportReport:
    """All or nothing: every line is checked first; with any error nothing is imported and the
    report names each bad line (line 1 is the header). Columns: IMPORT_COLUMNS; `roles` is
    space-separated; an empty `ward` means city-wide."""
    reader = csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff")))
    missing = [c for c in IMPORT_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(
            f"the header lacks column(s) {', '.join(missing)}",
            errors=[{"line": 1, "field": c, "msg": "missing column"} for c in missing],
        )
    catalog = await repository.roles_by_name(session)
    problems: list[dict[str, Any]] = []
    parsed: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    rows = list(reader)
    taken = await repository.login_ids_taken(
        session, [(r.get("login_id") or "").strip() for r in rows]
    )
    for index, raw in enumerate(rows, start=2):
        row = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        line_problems: list[dict[str, Any]] = []
        login_id = row.get("login_id", "")
        if not login_id or len(login_id) > 50:
            line_problems.append({"line": index, "field": "login_id", "msg": "1 to 50 characters"})
        elif login_id in taken:
            line_problems.append(
                {"line": index, "field": "login_id", "msg": "already issued (never reused)"}
            )
        elif login_id in seen:
            line_problems.append(
                {"line": index, "field": "login_id", "msg": f"duplicate of line {seen[login_id]}"}
            )
        seen.setdefault(login_id, index)
        for field in ("display_name", "dept"):
            if not row.get(field):
                line_problems.append({"line": index, "field": field, "msg": "required"})
        ward = row.get("ward") or None
        roles = sorted(set(row.get("roles", "").split()))
        line_problems += [{"line": index, "field": "ward", "msg": m} for m in ward_errors(ward)]
        line_problems += [
            {"line": index, "field": "roles", "msg": m} for m in role_errors(roles, ward, catalog)
        ]
        valid_from = _parse_date(row.get("valid_from", ""), "valid_from", line_problems, index)
        valid_until = _parse_date(row.get("valid_until", ""), "valid_until", line_problems, index)
        if valid_from and valid_until and valid_until < valid_from:
            line_problems.append(
                {"line": index, "field": "valid_until", "msg": "before valid_from"}
            )
        problems += line_problems
        if not line_problems:
            parsed.append(
                (
                    index,
                    {
                        "login_id": login_id,
                        "display_name": row["display_name"],
                        "dept": row["dept"],
                        "ward": ward,
                        "roles": roles,
                        "valid_from": valid_from,
                        "valid_until": valid_until,
                    },
                )
            )
    if not rows:
        problems.append({"line": 2, "field": None, "msg": "the file has no user lines"})
    if problems or dry_run:
        UnitOfWork.of(session).record_access(
            actor,
            action="identity.user.import",
            outcome="rejected" if problems else "dry_run",
            target_type=TARGET,
            detail={"lines": len(rows), "errors": len(problems)},
        )
        return ImportReport(imported=[], errors=problems, dry_run=dry_run)
    imported = [
        await issue_user(
            session, ctx, actor=actor, password=None, audit_detail={"import_line": line}, **values
        )
        for line, values in parsed
    ]
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.user.import",
        target_type=TARGET,
        detail={"lines": len(rows), "imported": len(imported)},
    )
    return ImportReport(imported=imported, errors=[], dry_run=False)
