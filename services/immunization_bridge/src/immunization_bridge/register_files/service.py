"""Files out: the changes of children under the schedule's age limit (births, move-ins,
move-outs, deaths, name changes), taken from atena's events, go to the register as batch
files. A run takes every change no file has taken yet, in the order they happened, writes the
file once and keeps its bytes: re-running takes nothing twice, and a lost file is delivered
again byte for byte."""

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from immunization_bridge.register_files import layout, repository
from immunization_bridge.register_files.models import RegisterChange, RegisterFileRun
from mch_common.auth.principal import Principal
from mch_common.errors import NotFound
from mch_common.work import UnitOfWork

PURPOSE = "予防接種台帳への異動連携 (changes for the immunization register)"
_ID, _CHANGE, _PERSON_NO = (layout.HEADER.index(c) for c in ("change_id", "change", "person_no"))


@dataclass(frozen=True)
class Actor:
    """Who builds or takes a file: a request's principal, or an operator at the command line."""

    principal: Principal | None = None
    operator: str | None = None

    @property
    def name(self) -> str:
        return self.principal.sub if self.principal else self.operator or "unknown"

    def record(self, session: AsyncSession, **record: Any) -> None:
        work = UnitOfWork.of(session)
        if self.principal is not None:
            work.record_access(self.principal, purpose=PURPOSE, **record)
        else:
            work.record(actor=self.name, purpose=PURPOSE, **record)


@dataclass(frozen=True)
class RunWithChanges:
    run: RegisterFileRun
    changes: list[RegisterChange]


def change_values(
    *, event_id: str, verb: str, effective: date, child: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any] | None:
    """The change an atena event means for the register, or None when it means none."""
    if verb not in layout.CHANGE_KINDS:
        return None
    other = data.get("previous_municipality_code") or data.get("destination_municipality_code")
    return {
        "event_id": event_id,
        "change": verb,
        "person_no": child["person_no"],
        "effective_date": effective,
        "version": child["version"],
        "family_name": child["family_name"],
        "given_name": child["given_name"],
        "family_name_kana": child["family_name_kana"],
        "given_name_kana": child["given_name_kana"],
        "sex": child["sex"],
        "birth_date": child["birth_date"],
        "death_date": child["death_date"],
        "ward_code": child["ward_code"],
        "other_municipality_code": str(other) if other else None,
    }


async def build(
    session: AsyncSession,
    *,
    actor: Actor,
    on: date,
    on_progress: Callable[[str], None] | None = None,
) -> RegisterFileRun:
    """One file of every change not yet in a file (an empty file, 0件, when there is none:
    the register expects one a run)."""
    await repository.lock_for_build(session)
    lines = await repository.pending_lines(session)
    _progress(on_progress, f"{len(lines)} changes for the register")
    rendered = layout.render(lines)
    counts = Counter(line[_CHANGE] for line in lines)
    run = RegisterFileRun(
        filename="pending",
        sha256=hashlib.sha256(rendered.content).hexdigest(),
        size_bytes=len(rendered.content),
        content=rendered.content,
        changes=len(lines),
        counts={kind: counts.get(kind, 0) for kind in layout.CHANGE_KINDS},
        substituted_characters=rendered.substituted_characters,
        built_by=actor.name[:100],
        deliveries=0,
    )
    session.add(run)
    await session.flush()
    run.filename = f"IMMREG_{on:%Y%m%d}_{run.id:06d}.csv"
    if lines:
        await repository.assign(session, run_id=run.id, last_id=lines[-1][_ID])
    actor.record(
        session,
        action="register_file.build",
        target_type="register_file",
        target_id=str(run.id),
        detail={"changes": run.changes, "counts": run.counts, "sha256": run.sha256},
        persons=list(dict.fromkeys(line[_PERSON_NO] for line in lines)),
    )
    await session.flush()
    _progress(on_progress, f"{run.filename}: {run.changes} lines, {run.size_bytes} bytes")
    return run


async def runs(session: AsyncSession, *, before: int | None, limit: int) -> list[RegisterFileRun]:
    """The run records, newest first (no person is shown: counts only)."""
    return await repository.runs_page(session, before=before, limit=limit)


async def run_with_changes(session: AsyncSession, *, actor: Actor, run_id: int) -> RunWithChanges:
    """Which changes went into the file: the children it names are access-logged."""
    run = await _run(session, run_id)
    changes = await repository.changes_of(session, run_id)
    actor.record(
        session,
        action="register_file.read",
        target_type="register_file",
        target_id=str(run_id),
        persons=repository.person_nos(changes),
    )
    return RunWithChanges(run, changes)


async def deliver(session: AsyncSession, *, actor: Actor, run_id: int) -> RegisterFileRun:
    """The file's bytes as first built (a first delivery or a re-delivery), counted."""
    run = await _run(session, run_id)
    changes = await repository.changes_of(session, run_id)
    await repository.count_delivery(session, run_id)
    await session.refresh(run)
    actor.record(
        session,
        action="register_file.deliver",
        target_type="register_file",
        target_id=str(run_id),
        detail={"delivery": run.deliveries, "sha256": run.sha256},
        persons=repository.person_nos(changes),
    )
    return run


async def _run(session: AsyncSession, run_id: int) -> RegisterFileRun:
    run = await session.get(RegisterFileRun, run_id)
    if run is None:
        raise NotFound(f"no register file run {run_id}")
    return run


def _progress(on_progress: Callable[[str], None] | None, message: str) -> None:
    if on_progress is not None:
        on_progress(message)
