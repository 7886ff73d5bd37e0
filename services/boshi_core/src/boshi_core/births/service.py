"""Pregnancy outcomes, children (linked to atena by atena.person.born) and low birth weight."""

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core import events
from boshi_core.births import repository
from boshi_core.births.models import Child, LowBirthWeightNotification
from boshi_core.births.schemas import BirthIn, LowBirthWeightIn, OutcomeIn
from boshi_core.people import repository as people
from boshi_core.pregnancy.models import Pregnancy
from boshi_core.pregnancy.service import get_pregnancy
from boshi_core.rules import service as rules
from boshi_core.rules.models import BirthRule
from boshi_core.visits import service as visits
from boshi_core.visits.models import HomeVisit
from mch_common.auth.deps import ensure_ward_access
from mch_common.auth.principal import Principal
from mch_common.dates import today_tokyo
from mch_common.errors import Conflict, InvalidInput, NotFound
from mch_common.work import UnitOfWork

PURPOSE = "母子保健法第18条 (births and low birth weight)"


@dataclass(frozen=True)
class BirthRecord:
    """A child's birth record, and whether the weight is low by the rule of the birth date."""

    child: Child
    low_birth_weight: bool


def is_low_birth_weight(weight_g: int | None, rule: BirthRule) -> bool:
    return weight_g is not None and weight_g < rule.low_birth_weight_below_g


async def birth_record(session: AsyncSession, child: Child) -> BirthRecord:
    rule = await rules.birth_rule_on(session, child.birth_date, field="the child's birth date")
    return BirthRecord(child, is_low_birth_weight(child.birth_weight_g, rule))


async def _child_registered(session: AsyncSession, child: Child, tenant: str) -> None:
    events.CHILD_REGISTERED.emit(
        UnitOfWork.of(session),
        subject=str(child.id),
        tenant=tenant,
        data=events.ChildRegistered(
            child_id=str(child.id),
            person_no=child.person_no,
            mother_person_no=child.mother_person_no,
            pregnancy_id=str(child.pregnancy_id) if child.pregnancy_id else None,
            birth_date=child.birth_date,
        ),
    )


async def record_outcome(
    session: AsyncSession, *, principal: Principal, pregnancy_id: UUID, outcome: OutcomeIn
) -> tuple[Pregnancy, list[BirthRecord]]:
    """Close the pregnancy with its outcome; a birth registers its children and their visits."""
    pregnancy = await get_pregnancy(session, principal, pregnancy_id, for_update=True)
    if pregnancy.status != "open":
        raise Conflict(f"pregnancy {pregnancy_id} is already closed ({pregnancy.outcome})")
    if outcome.outcome_date > today_tokyo():
        raise InvalidInput("outcome_date is in the future")
    await _check_birth_dates(session, outcome.births)
    mother = await people.get(session, pregnancy.person_no)
    children: list[Child] = []
    for birth in outcome.births:
        children.append(
            await _register_birth(
                session, principal, pregnancy, birth, mother.ward_code if mother else None
            )
        )
    pregnancy.status = "closed"
    pregnancy.outcome = outcome.outcome
    pregnancy.outcome_date = outcome.outcome_date
    pregnancy.outcome_note = outcome.note
    await session.flush()
    events.PREGNANCY_CLOSED.emit(
        UnitOfWork.of(session),
        subject=str(pregnancy_id),
        tenant=principal.tenant,
        data=events.PregnancyClosed(
            pregnancy_id=str(pregnancy_id),
            person_no=pregnancy.person_no,
            outcome=outcome.outcome,
            outcome_date=outcome.outcome_date,
            children=len(children),
        ),
    )
    UnitOfWork.of(session).record_access(
        principal,
        action="pregnancy.close",
        target_type="person",
        target_id=pregnancy.person_no,
        purpose=PURPOSE,
        detail={
            "pregnancy_id": str(pregnancy_id),
            "outcome": outcome.outcome,
            "children": [str(c.id) for c in children],
        },
    )
    return pregnancy, [await birth_record(session, c) for c in children]


async def _check_birth_dates(session: AsyncSession, births: list[BirthIn]) -> None:
    """Each birth date is a day that has come and that a birth follow-up rule judges, before
    anything is written."""
    today = today_tokyo()
    for i, birth in enumerate(births):
        if birth.birth_date > today:
            raise InvalidInput(f"births[{i}].birth_date is in the future")
        await rules.birth_rule_on(session, birth.birth_date, field=f"births[{i}].birth_date")


async def _register_birth(
    session: AsyncSession,
    principal: Principal,
    pregnancy: Pregnancy,
    birth: BirthIn,
    ward_code: str | None,
) -> Child:
    child: Child | None = None
    if birth.child_person_no is not None:
        child = await repository.by_person_no_for_update(session, birth.child_person_no)
        if child is not None and child.mother_person_no != pregnancy.person_no:
            raise InvalidInput(f"child {birth.child_person_no} is another mother's child")
        if child is not None and child.birth_weight_g is not None:
            raise Conflict(f"child {birth.child_person_no} already has a birth record")
    if child is None:
        child = await repository.unlinked_child_for_update(
            session,
            mother=pregnancy.person_no,
            birth_date=birth.birth_date,
            sex=birth.sex,
            missing="details",
        )
    created = child is None
    if child is None:
        child = Child(
            mother_person_no=pregnancy.person_no,
            birth_date=birth.birth_date,
            registered_via="outcome",
            ward_code=ward_code,
        )
        session.add(child)
    if birth.child_person_no is not None:
        child.person_no = birth.child_person_no
    child.pregnancy_id = pregnancy.id
    child.birth_date = birth.birth_date
    child.birth_time = birth.birth_time
    child.sex = birth.sex
    child.birth_weight_g = birth.birth_weight_g
    child.gestational_weeks = birth.gestational_weeks
    child.gestational_days = birth.gestational_days
    child.birth_attendant = birth.birth_attendant
    child.birth_place = birth.birth_place
    child.ward_code = child.ward_code or ward_code
    await session.flush()
    await visits.schedule_birth_visits(session, child)
    if created:
        await _child_registered(session, child, principal.tenant)
    return child


async def link_born(session: AsyncSession, snapshot: dict[str, Any], tenant: str) -> None:
    """atena.person.born: link the new person to the mother's child record, or start one."""
    mother_no = snapshot.get("mother_person_no")
    person_no = snapshot["person_no"]
    if not mother_no or not snapshot.get("birth_date"):
        return
    # A birth recorded by staff (record_outcome) locks the pregnancy before it writes the
    # child; taking the mother's pregnancies first too, the two wait for each other there,
    # never on each other's new child row (a deadlock that answered the outcome with a 500).
    await repository.lock_pregnancies_of(session, mother_no)
    if await repository.is_linked(session, person_no):
        return  # already linked (a replay, or staff gave the person number at the outcome)
    birth_date = date.fromisoformat(snapshot["birth_date"])
    sex = snapshot.get("sex")
    child = await repository.unlinked_child_for_update(
        session, mother=mother_no, birth_date=birth_date, sex=sex, missing="person_no"
    )
    if child is not None:
        child.person_no = person_no
        await session.flush()
        return
    mother = await people.get(session, mother_no)
    if mother is None:
        return  # not a mother boshi_core serves (no pregnancy, no read model entry)
    pregnancy_id = await repository.latest_pregnancy_id(session, mother_no)
    child = Child(
        person_no=person_no,
        mother_person_no=mother_no,
        pregnancy_id=pregnancy_id,
        birth_date=birth_date,
        sex=sex,
        ward_code=(snapshot.get("address") or {}).get("ward_code") or mother.ward_code,
        registered_via="atena_born",
    )
    session.add(child)
    await session.flush()
    await visits.schedule_birth_visits(session, child)
    await _child_registered(session, child, tenant)


async def get_child(session: AsyncSession, principal: Principal, child_id: UUID) -> Child:
    child = await repository.get(session, child_id)
    if child is None:
        raise NotFound(f"no child {child_id}")
    ensure_ward_access(principal, child.ward_code or "")
    return child


async def notify_low_birth_weight(
    session: AsyncSession,
    *,
    principal: Principal,
    child_id: UUID,
    notification: LowBirthWeightIn,
) -> tuple[LowBirthWeightNotification, HomeVisit]:
    """Record the notification and open the premature infant visit (未熟児訪問): the threshold
    is the birth follow-up rule's in force on the birth date, the visit's days the one's in
    force on the notification date."""
    child = await get_child(session, principal, child_id)
    if child.birth_weight_g is None:
        raise InvalidInput("record the birth (weight, weeks, attendant) before this notification")
    at_birth = await rules.birth_rule_on(session, child.birth_date, field="the child's birth date")
    if not is_low_birth_weight(child.birth_weight_g, at_birth):
        raise InvalidInput(
            f"birth weight {child.birth_weight_g} g is not under "
            f"{at_birth.low_birth_weight_below_g} g (the rule in force on the birth date)"
        )
    if notification.notified_on < child.birth_date or notification.notified_on > today_tokyo():
        raise InvalidInput("notified_on must be between the birth and today")
    if await repository.has_low_birth_weight_notification(session, child_id):
        raise Conflict(f"child {child_id} already has a low birth weight notification")
    record = LowBirthWeightNotification(
        child_id=child_id,
        notified_on=notification.notified_on,
        notifier_name=notification.notifier_name,
        whereabouts=notification.whereabouts,
        contact_phone=notification.contact_phone,
        birth_date=child.birth_date,
        birth_time=notification.birth_time or child.birth_time,
        birth_place=notification.birth_place or child.birth_place or "",
        sex=child.sex or "",
        birth_weight_g=child.birth_weight_g,
        gestational_weeks=child.gestational_weeks or 0,
        mother_person_no=child.mother_person_no,
        birth_attendant=notification.birth_attendant or child.birth_attendant or "",
        note=notification.note,
        recorded_by=principal.sub,
    )
    session.add(record)
    await session.flush()
    visit = await visits.schedule(
        session,
        child=child,
        kind="premature",
        due=visits.due_by(
            "premature",
            birth_date=child.birth_date,
            notified_on=notification.notified_on,
            rule=await rules.birth_rule_on(session, notification.notified_on, field="notified_on"),
        ),
    )
    if visit is None:
        raise Conflict(f"child {child_id} already has a premature infant visit")
    events.LOW_BIRTH_WEIGHT_NOTIFIED.emit(
        UnitOfWork.of(session),
        subject=str(child_id),
        tenant=principal.tenant,
        data=events.LowBirthWeightNotified(
            notification_id=str(record.id),
            child_id=str(child_id),
            child_person_no=child.person_no,
            mother_person_no=child.mother_person_no,
            birth_weight_g=child.birth_weight_g,
            premature_visit_id=str(visit.id),
        ),
    )
    UnitOfWork.of(session).record_access(
        principal,
        action="low_birth_weight.notify",
        target_type="person",
        target_id=child.mother_person_no,
        purpose=PURPOSE,
        detail={"child_id": str(child_id)},
        persons=[child.person_no] if child.person_no else [],
    )
    return record, visit


async def view_child(session: AsyncSession, *, principal: Principal, child_id: UUID) -> BirthRecord:
    child = await get_child(session, principal, child_id)
    UnitOfWork.of(session).record_access(
        principal,
        action="child.view",
        target_type="person",
        target_id=child.person_no or child.mother_person_no,
        purpose=PURPOSE,
        detail={"child_id": str(child_id)},
        persons=[child.mother_person_no],
    )
    return await birth_record(session, child)
