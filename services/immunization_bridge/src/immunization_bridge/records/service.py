"""Importing a batch file of the register: once per file (its SHA-256), lines applied in file
order, corrections and deletions of earlier files' records by record id."""

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from immunization_bridge.records import repository
from immunization_bridge.records.models import ImportFile
from immunization_bridge.records.parse import Action, RecordLine, parse_file
from immunization_bridge.schedule.repository import all_rules, highest_doses
from mch_common.lines import LineError, record_rejection
from mch_common.work import UnitOfWork

IMPORT_ACTION = "records.import"


@dataclass
class ImportReport:
    file_id: int
    filename: str
    encoding: str
    lines: int = 0
    accepted: int = 0
    rejected: int = 0
    unknown_people: int = 0
    errors: list[LineError] = field(default_factory=list)
    already_imported: bool = False


def _report_of(row: ImportFile, *, already_imported: bool) -> ImportReport:
    return ImportReport(
        file_id=row.id,
        filename=row.filename,
        encoding=row.encoding,
        lines=row.lines,
        accepted=row.accepted,
        rejected=row.rejected,
        unknown_people=row.unknown_people,
        errors=[LineError(**e) for e in row.errors],
        already_imported=already_imported,
    )


@dataclass
class _Outcome:
    """What the file's lines leave behind, per record id, applied in order."""

    rows: dict[str, tuple[RecordLine, bool]] = field(default_factory=dict)  # line, deleted
    deleted_before: dict[str, int] = field(default_factory=dict)  # older records: id -> line


async def import_file(
    session: AsyncSession,
    *,
    data: bytes,
    filename: str,
    actor: str,
    today: date,
    on_progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """Import one file; the same bytes a second time change nothing and answer the first
    import's report with `already_imported`."""
    sha256 = hashlib.sha256(data).hexdigest()
    earlier = await repository.file_by_hash(session, sha256)
    if earlier is not None:
        return _report_of(earlier, already_imported=True)
    parsed = parse_file(data, vaccines=highest_doses(await all_rules(session)), today=today)
    _progress(on_progress, f"{filename}: {parsed.lines} lines read, {parsed.rejected} rejected")
    report = ImportReport(
        file_id=0,
        filename=filename,
        encoding=parsed.encoding,
        lines=parsed.lines,
        rejected=parsed.rejected,
        errors=parsed.errors,
    )
    outcome = await _apply_in_order(session, parsed.records, report)
    people = {line.person_no for line, _ in outcome.rows.values() if line.person_no}
    known = await repository.known_people(session, sorted(people))
    report.unknown_people = len(people - known)
    report.errors.sort(key=lambda e: e.line)

    row = ImportFile(
        sha256=sha256,
        filename=filename[:255],
        encoding=parsed.encoding,
        imported_by=actor,
        lines=report.lines,
        accepted=report.accepted,
        rejected=report.rejected,
        unknown_people=report.unknown_people,
        errors=[asdict(e) for e in report.errors],
    )
    session.add(row)
    await session.flush()
    report.file_id = row.id
    await repository.write_records(
        session,
        file_id=row.id,
        rows=[
            (
                record_id,
                line.person_no,
                line.vaccine,
                line.dose_no,
                line.given_on,
                line.lot,
                line.institution_code,
                line.person_no in known,
                deleted,
                row.id,
                line.line,
            )
            for record_id, (line, deleted) in outcome.rows.items()
        ],
        deleted=list(outcome.deleted_before.items()),
    )
    UnitOfWork.of(session).record(
        actor=actor,
        action=IMPORT_ACTION,
        target_type="import_file",
        target_id=str(row.id),
        detail=_counts(report),
    )
    _progress(on_progress, f"{filename}: {report.accepted} records kept as file {row.id}")
    return report


async def _apply_in_order(
    session: AsyncSession, lines: list[RecordLine], report: ImportReport
) -> _Outcome:
    live = await repository.live_record_ids(session, sorted({line.record_id for line in lines}))
    outcome = _Outcome()
    for line in lines:
        record_id = line.record_id
        exists = record_id in live
        if line.action is Action.ADD and exists:
            _reject(report, line, "record_id", "already imported: correct it with action C")
            continue
        if line.action is not Action.ADD and not exists:
            _reject(report, line, "record_id", "no such record (or deleted) to change")
            continue
        report.accepted += 1
        if line.action is Action.DELETE:
            live.discard(record_id)
            previous = outcome.rows.get(record_id)
            if previous is None:
                outcome.deleted_before[record_id] = line.line
            else:
                outcome.rows[record_id] = (previous[0], True)
            continue
        live.add(record_id)
        outcome.deleted_before.pop(record_id, None)
        outcome.rows[record_id] = (line, False)
    return outcome


def _reject(report: ImportReport, line: RecordLine, field_name: str, reason: str) -> None:
    record_rejection(report, LineError(line.line, field_name, reason))


def _counts(report: ImportReport) -> dict[str, Any]:
    return {
        "lines": report.lines,
        "accepted": report.accepted,
        "rejected": report.rejected,
        "unknown_people": report.unknown_people,
    }


def _progress(on_progress: Callable[[str], None] | None, message: str) -> None:
    if on_progress is not None:
        on_progress(message)
