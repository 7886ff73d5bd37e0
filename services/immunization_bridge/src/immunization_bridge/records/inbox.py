"""The inbox folder (受信フォルダ): files the register drops there are imported once each, in
name order (the order corrections and deletions apply: name them so they sort), then moved to
`done/` (imported, rejected lines named in the report) or `failed/` (nothing could be taken:
not text, no header, no good line), with `<name>.report.json` beside them.

Restart-safe without a state file: the import is keyed by the file's SHA-256, so a file whose
import committed but which was not moved yet (a crash, a restart) is imported again as
`already_imported` and moved then; nothing is taken twice. A file still being written is left
alone: dot-files, `*.part` and `*.tmp`, and anything modified in the last `settle_seconds`.
A database that does not answer leaves the file where it is for the next sweep.
"""

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from immunization_bridge.records.service import ImportReport, import_file
from mch_common.db import unit_of_work

DONE, FAILED = "done", "failed"
REPORT_SUFFIX = ".report.json"
_IN_PROGRESS_SUFFIXES = (".part", ".tmp")
Outcome = Literal["done", "failed"]


@dataclass(frozen=True)
class InboxResult:
    filename: str
    outcome: Outcome
    moved_to: Path
    report: ImportReport


def waiting_files(inbox: Path, *, settle_seconds: float, now: float | None = None) -> list[Path]:
    """The files ready to import, in name order."""
    now = time.time() if now is None else now
    ready = []
    for path in inbox.iterdir():
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.suffix in _IN_PROGRESS_SUFFIXES:
            continue
        if now - path.stat().st_mtime < settle_seconds:
            continue
        ready.append(path)
    return sorted(ready, key=lambda p: p.name)


def outcome_of(report: ImportReport) -> Outcome:
    """`failed` when the file gave nothing: refused whole, or every line rejected."""
    return "failed" if report.accepted == 0 and report.rejected > 0 else "done"


async def sweep(
    sessions: async_sessionmaker[AsyncSession],
    inbox: Path,
    *,
    actor: str,
    today: Callable[[], date],
    settle_seconds: float = 2.0,
    on_progress: Callable[[str], None] | None = None,
) -> list[InboxResult]:
    """Import every waiting file once and move it with its report; answers what was moved."""
    results = []
    for path in await asyncio.to_thread(waiting_files, inbox, settle_seconds=settle_seconds):
        data = await asyncio.to_thread(path.read_bytes)
        async with unit_of_work(sessions) as session:
            report = await import_file(
                session,
                data=data,
                filename=path.name,
                actor=actor,
                today=today(),
                on_progress=on_progress,
            )
        outcome = outcome_of(report)
        moved_to = await asyncio.to_thread(_move_with_report, path, inbox / outcome, report)
        if on_progress is not None:
            on_progress(
                f"{path.name}: {outcome} ({report.accepted} kept, {report.rejected} rejected)"
            )
        results.append(InboxResult(path.name, outcome, moved_to, report))
    return results


def _move_with_report(path: Path, folder: Path, report: ImportReport) -> Path:
    """The report first, then the file (one rename): a crash between the two leaves the file
    in the inbox, to be taken again as already imported."""
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    if target.exists():  # the same name sent again with other bytes
        target = folder / f"{path.stem}.{report.file_id}{path.suffix}"
    report_path = target.with_name(target.name + REPORT_SUFFIX)
    partial = report_path.with_name(f".{report_path.name}.part")
    # Line, field and reason only: never a value from the file.
    partial.write_text(json.dumps(asdict(report), ensure_ascii=False, indent=1), "utf-8")
    os.replace(partial, report_path)
    os.replace(path, target)
    return target
