"""What every change of a person writes, in the caller's transaction: the version history
(bitemporal-lite: a correction supersedes versions instead of editing them), the change log,
the event and the access record."""

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atena.context import RegistryContext
from atena.events import PERSON_EVENTS
from atena.mynumber.display import shown_my_number
from atena.persons import repository as repo
from atena.persons.models import Person
from atena.persons.rules import invalid
from atena.persons.snapshot import SNAPSHOT_FIELDS, PersonState, changed_fields
from mch_common.errors import InvalidInput
from mch_common.work import UnitOfWork

IDENTITY_FIELDS = frozenset(
    {"family_name", "given_name", "family_name_kana", "given_name_kana", "sex", "birth_date"}
)


async def record_change(
    session: AsyncSession,
    ctx: RegistryContext,
    *,
    person: Person,
    verb: str,
    effective_date: date,
    before: dict[str, Any] | None,
    extra: dict[str, Any] | None = None,
    reason: str | None = None,
    correction_from: date | None = None,
) -> PersonState:
    """Bump the version, write history, change log, event and access record; return the person
    as a read of it would answer (the My Number as the caller may see it)."""
    latest = await repo.latest_live_version(session, person.person_no)
    if latest is not None and verb != "corrected" and effective_date < latest.valid_from:
        raise invalid(
            "effective_date",
            f"the effective date precedes the latest recorded change ({latest.valid_from}); "
            "record a correction instead",
        )
    person.version = (person.version or 0) + 1
    await session.flush()
    view = await repo.person_view(session, person.person_no)
    if view is None:
        raise RuntimeError(f"person {person.person_no} vanished after its flush")
    after = view.snapshot
    if before is None:
        changed_before: dict[str, Any] = {}
        changed_after = {k: after[k] for k in SNAPSHOT_FIELDS if k != "version"}
    else:
        changed_before, changed_after = changed_fields(before, after)
        if not changed_after:
            raise InvalidInput("the request changes nothing")

    if verb == "corrected":
        await _rewrite_history(
            session,
            person_no=person.person_no,
            patch=changed_after,
            snapshot=after,
            from_date=correction_from,
        )
    else:
        await repo.close_open_version(session, person.person_no, effective_date)
        await repo.add_version(
            session,
            person_no=person.person_no,
            version=person.version,
            valid_from=effective_date,
            snapshot=after,
            recorded_at=datetime.now(UTC),
        )
    await repo.add_change(
        session,
        person_no=person.person_no,
        version=person.version,
        change_type=verb,
        effective_date=effective_date,
        actor=ctx.principal.sub,
        reason=reason,
        before=changed_before,
        after=changed_after,
        detail=extra or {},
    )
    event = PERSON_EVENTS[verb]
    event.emit(
        UnitOfWork.of(session),
        subject=person.person_no,
        tenant=ctx.tenant,
        data=event.payload(
            person_no=person.person_no,
            effective_date=effective_date,
            before=changed_before,
            after=changed_after,
            person=after,
            **(extra or {}),
        ),
    )
    has, number, shown = shown_my_number(ctx, view)
    UnitOfWork.of(session).record_access(
        ctx.principal,
        action=f"person.{verb}",
        target_type="person",
        target_id=person.person_no,
        purpose=ctx.purpose,
        detail={"version": person.version, "fields": sorted(changed_after), "my_number": shown},
    )
    return PersonState(after, has_my_number=has, my_number=number)


async def _rewrite_history(
    session: AsyncSession,
    *,
    person_no: str,
    patch: dict[str, Any],
    snapshot: dict[str, Any],
    from_date: date | None,
) -> None:
    """A correction supersedes the affected versions (kept, for `known_at` queries) and writes
    corrected copies; the part of a version before `from_date` is copied unchanged."""
    now = datetime.now(UTC)
    version = snapshot["version"]
    # Without a date, identity facts are wrong for the whole history, but an address or a
    # phone number corrected now says nothing about where the person lived before.
    older_patch = (
        patch if from_date is not None else {k: v for k, v in patch.items() if k in IDENTITY_FIELDS}
    )
    for row in await repo.live_versions(session, person_no):
        if row.valid_to is not None and row.valid_to <= row.valid_from:
            continue  # a version replaced on its first day is never the answer to a query
        if from_date is not None and row.valid_to is not None and row.valid_to <= from_date:
            continue
        if row.valid_to is not None and not older_patch:
            continue
        await repo.supersede_version(session, row.id, now)
        start = row.valid_from
        if from_date is not None and row.valid_from < from_date:
            await repo.add_version(
                session,
                person_no=person_no,
                version=row.version,
                valid_from=row.valid_from,
                valid_to=from_date,
                snapshot=row.snapshot,
                recorded_at=now,
            )
            start = from_date
        corrected = (
            snapshot
            if row.valid_to is None
            else {**row.snapshot, **older_patch, "version": version}
        )
        await repo.add_version(
            session,
            person_no=person_no,
            version=version,
            valid_from=start,
            valid_to=row.valid_to,
            snapshot=corrected,
            recorded_at=now,
        )
