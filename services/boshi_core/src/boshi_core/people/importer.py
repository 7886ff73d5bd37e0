"""Initial population of the people read model from atena's batch export (`python -m atena.cli
export`): what atena's `registered` events would have written, for a registry loaded with
`--no-events`. Versioned like the events: a row never replaces a snapshot as new or newer, so
the import may run while events flow, and again (a re-run changes nothing)."""

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boshi_core.people import repository
from mch_common.db import unit_of_work
from mch_common.lines import LineError, record_rejection

EVENT_TYPE = "atena.export"
REQUIRED = ("person_no", "version", "residence_status", "family_name", "given_name")
STATUSES = {"resident", "non_resident", "moved_out", "deceased"}
ADDRESS = (
    "postal_code",
    "prefecture",
    "municipality_code",
    "ward_code",
    "town",
    "block",
    "building",
)
OPTIONAL_TEXT = (
    "family_name_kana",
    "given_name_kana",
    "sex",
    "household_no",
    "phone",
    "email",
    "mother_person_no",
)


@dataclass
class ImportReport:
    lines: int = 0
    applied: int = 0
    kept_newer: int = 0
    rejected: int = 0
    errors: list[LineError] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "lines": self.lines,
            "applied": self.applied,
            "kept_newer": self.kept_newer,
            "rejected": self.rejected,
        }


class _Rejected(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


def _date(row: dict[str, str], name: str) -> str | None:
    value = row.get(name) or ""
    if not value:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise _Rejected(name, "not a date (YYYY-MM-DD)") from None


def snapshot_from_row(row: dict[str, str]) -> dict[str, Any]:
    """atena's person snapshot (as its events carry it) from one export line."""
    for name in REQUIRED:
        if not row.get(name):
            raise _Rejected(name, "missing")
    person_no = row["person_no"]
    if len(person_no) != 10 or not person_no.isdigit():
        raise _Rejected("person_no", "not a 10-digit person number")
    try:
        version = int(row["version"])
    except ValueError:
        raise _Rejected("version", "not a number") from None
    if version < 1:
        raise _Rejected("version", "must be at least 1")
    if row["residence_status"] not in STATUSES:
        raise _Rejected("residence_status", "unknown status")
    try:
        delivery = json.loads(row.get("delivery_addresses") or "[]")
    except ValueError:
        raise _Rejected("delivery_addresses", "not JSON") from None
    if not isinstance(delivery, list):
        raise _Rejected("delivery_addresses", "not a JSON array")
    return {
        "person_no": person_no,
        "version": version,
        "residence_status": row["residence_status"],
        "family_name": row["family_name"],
        "given_name": row["given_name"],
        **{name: row.get(name) or None for name in OPTIONAL_TEXT},
        "birth_date": _date(row, "birth_date"),
        "death_date": _date(row, "death_date"),
        "address": {name: row.get(name) or None for name in ADDRESS},
        "delivery_addresses": delivery,
    }


def _batches(
    stream: TextIO, size: int, report: ImportReport, on_error: Callable[[LineError], None]
) -> Iterator[list[dict[str, Any]]]:
    reader = csv.DictReader(stream)
    missing = [name for name in REQUIRED if name not in (reader.fieldnames or ())]
    if missing:
        raise ValueError(
            f"not an atena export: the header lacks {', '.join(missing)} "
            "(write one with python -m atena.cli export)"
        )
    batch: list[dict[str, Any]] = []
    for row in reader:
        report.lines += 1
        try:
            snapshot = snapshot_from_row(row)
        except _Rejected as exc:
            record_rejection(report, LineError(reader.line_num, exc.field, exc.reason), on_error)
            continue
        batch.append(repository.snapshot_values(snapshot, EVENT_TYPE))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


async def import_people(
    sessions: async_sessionmaker[AsyncSession],
    stream: TextIO,
    *,
    batch_size: int = 5_000,
    on_error: Callable[[LineError], None] = lambda error: None,
    progress: Callable[[ImportReport], None] = lambda report: None,
) -> ImportReport:
    """Each batch commits on its own: a re-run after a failure applies only what is missing."""
    report = ImportReport()
    for batch in _batches(stream, batch_size, report, on_error):
        async with unit_of_work(sessions) as session:
            applied = await repository.upsert_snapshots(session, batch)
        report.applied += applied
        report.kept_newer += len(batch) - applied
        progress(report)
    return report
