"""Pregnancy notification, handbook issuance and prenatal checkups: the business rules."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from uuid import UUID

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core import events
from boshi_core.errors import UnknownPerson
from boshi_core.moving_in import repository as moving_in
from boshi_core.moving_in.ims import PREGNANCY_ITEM
from boshi_core.moving_in.models import PreviousCityRecord
from boshi_core.paging import next_cursor, parse_cursor
from boshi_core.people import repository as people
from boshi_core.people.atena import AtenaClient
from boshi_core.people.service import find_by_my_number
from boshi_core.pregnancy import repository, risk
from boshi_core.pregnancy.models import (
    OPEN_PREGNANCY_INDEX,
    ExpectedChildrenChange,
    Handbook,
    Pregnancy,
    PrenatalCheckup,
    PrenatalVoucher,
    VoucherRule,
)
from boshi_core.pregnancy.schemas import Channel, CheckupIn, IdentityCheck, NotificationForm
from boshi_core.rules import repository as rule_books
from boshi_core.rules import service as rules
from boshi_core.wards import ward_digits
from mch_common.auth.deps import ensure_ward_access
from mch_common.auth.principal import Principal
from mch_common.dates import fiscal_year, today_tokyo, years_old
from mch_common.db import new_row
from mch_common.errors import Conflict, InvalidInput, NotFound
from mch_common.work import UnitOfWork

PURPOSE = "母子保健法第15条・第16条 (pregnancy notification and handbook)"


async def open_pregnancy(
    session: AsyncSession,
    *,
    principal: Principal,
    channel: Channel,
    person_no: str,
    form: NotificationForm,
    identity_check: IdentityCheck,
    external_ref: str | None = None,
    received_at: datetime | None = None,
) -> Pregnancy:
    """Open a pregnancy from a notification. The window and the online path (e_application's
    accepted notification, `external_ref` = its application id) both come here."""
    if external_ref is not None:
        existing = await repository.by_external_ref(session, external_ref)
        if existing is not None:
            return existing  # the same application delivered twice
    person = await people.standing(session, person_no)
    if person is None:
        raise UnknownPerson(
            f"person {person_no} is not registered in atena (or its registration has not reached "
            "boshi_core yet); register the person in atena first"
        )
    ensure_ward_access(principal, person.ward_code or "")
    if channel == "window":
        ensure_ward_access(principal, form.collection_ward_code)
    if person.residence_status in {"moved_out", "deceased"}:
        raise InvalidInput(f"person {person_no} is {person.residence_status}")
    if person.birth_date is not None and person.birth_date != form.birth_date:
        raise InvalidInput("birth_date does not match atena's record of the person")
    received = received_at or datetime.now(UTC)
    notified_on = today_tokyo(received)
    pregnancy = new_row(
        Pregnancy,
        person_no=person_no,
        ward_code=form.collection_ward_code,
        channel=channel,
        external_ref=external_ref,
        status="open",
        notified_on=notified_on,
        name=form.name,
        name_kana=form.name_kana,
        birth_date=form.birth_date,
        age_at_notification=years_old(form.birth_date, form.application_date),
        occupation=form.occupation,
        residence=form.residence,
        nationality=form.nationality,
        weeks_at_notification=form.weeks_of_pregnancy,
        expected_delivery_date=form.expected_delivery_date,
        expected_children=form.expected_children,
        diagnosed_by=form.diagnosed_by,
        std_tested=form.std_tested,
        tb_tested=form.tb_tested,
        notifier_name=form.notifier_name,
        contact_name=form.contact_name,
        contact_address=form.contact_address,
        contact_phone=form.contact_phone,
        contact_email=form.contact_email,
        application_date=form.application_date,
        collection_ward_code=form.collection_ward_code,
        id_document_type=identity_check.document_type,
        id_checked_by=identity_check.checked_by,
        id_checked_at=received,
        created_by=principal.sub,
    )
    # Written with its event and access record in the unit of work's one statement: with
    # the person read alone before it, the whole notification is two round trips.
    UnitOfWork.of(session).insert(
        pregnancy,
        conflicts={
            OPEN_PREGNANCY_INDEX: Conflict(
                f"person {person_no} already has an open pregnancy; record its outcome before "
                "a new notification"
            )
        },
    )
    pregnancy_id = str(pregnancy.id)
    events.PREGNANCY_OPENED.emit(
        UnitOfWork.of(session),
        subject=pregnancy_id,
        tenant=principal.tenant,
        data=events.PregnancyOpened(
            pregnancy_id=pregnancy_id,
            person_no=person_no,
            ward_code=form.collection_ward_code,
            channel=channel,
            expected_children=form.expected_children,
            expected_delivery_date=form.expected_delivery_date,
        ),
    )
    UnitOfWork.of(session).record_access(
        principal,
        action="pregnancy.open",
        target_type="person",
        target_id=person_no,
        purpose=PURPOSE,
        detail={"pregnancy_id": pregnancy_id, "channel": channel},
    )
    return pregnancy


async def notify_at_window(
    session: AsyncSession,
    *,
    principal: Principal,
    atena: AtenaClient,
    person_no: str | None,
    my_number: SecretStr | None,
    form: NotificationForm,
    identity_check: IdentityCheck,
) -> Pregnancy:
    """A notification at the ward window, for the person given by number or by My Number.
    The form's My Number only finds the person: it goes no further than atena's lookup."""
    if my_number is not None:
        person = await find_by_my_number(
            session, principal, atena=atena, my_number=my_number, purpose=PURPOSE
        )
        person_no = person.person_no
    if person_no is None:
        raise InvalidInput("give exactly one of person_no and my_number")
    if form.application_date > today_tokyo():
        raise InvalidInput("application_date is in the future")
    return await open_pregnancy(
        session,
        principal=principal,
        channel="window",
        person_no=person_no,
        form=form,
        identity_check=identity_check,
    )


async def get_pregnancy(
    session: AsyncSession, principal: Principal, pregnancy_id: UUID, *, for_update: bool = False
) -> Pregnancy:
    """The pregnancy if the principal may see it: read-only, or `for_update` (locked, loaded
    by the ORM) for a caller that changes it."""
    pregnancy = await repository.get(session, pregnancy_id, for_update=for_update)
    return await _visible(session, principal, pregnancy_id, pregnancy)


async def lock_pregnancy(
    session: AsyncSession, principal: Principal, pregnancy_id: UUID
) -> Pregnancy:
    """The pregnancy if the principal may see it, locked until the transaction ends against
    a concurrent change or addition (its status, its first checkup), read-only."""
    pregnancy = await repository.lock(session, pregnancy_id)
    return await _visible(session, principal, pregnancy_id, pregnancy)


async def _visible(
    session: AsyncSession, principal: Principal, pregnancy_id: UUID, pregnancy: Pregnancy | None
) -> Pregnancy:
    if pregnancy is None:
        raise NotFound(f"no pregnancy {pregnancy_id}")
    if principal.ward is not None and principal.ward != pregnancy.ward_code:
        # Ward staff see the pregnancies notified at their ward, and their ward's residents.
        person = await people.get(session, pregnancy.person_no)
        ensure_ward_access(principal, person.ward_code if person and person.ward_code else "")
    return pregnancy


@dataclass(frozen=True)
class PregnancyDetail:
    pregnancy: Pregnancy
    handbooks: list[Handbook]
    vouchers: list[PrenatalVoucher]
    checkups: list[tuple[PrenatalCheckup, str | None]]
    expected_children_changes: list[ExpectedChildrenChange]
    # The mother's pregnancy notification in the city she moved from (item 80).
    previous_city_notifications: Sequence[PreviousCityRecord]


async def view_pregnancy(
    session: AsyncSession, *, principal: Principal, pregnancy_id: UUID, purpose: str
) -> PregnancyDetail:
    pregnancy = await get_pregnancy(session, principal, pregnancy_id)
    handbooks = await repository.handbooks_of(session, pregnancy_id)
    vouchers = await repository.vouchers_of(session, pregnancy_id)
    voucher_nos = {v.id: v.voucher_no for v in vouchers}
    checkups = [
        (c, voucher_nos.get(c.voucher_id) if c.voucher_id else None)
        for c in await repository.checkups_of(session, pregnancy_id)
    ]
    changes = await repository.expected_children_changes(session, pregnancy_id)
    UnitOfWork.of(session).record_access(
        principal,
        action="pregnancy.view",
        target_type="person",
        target_id=pregnancy.person_no,
        purpose=purpose,
        detail={"pregnancy_id": str(pregnancy_id)},
    )
    previous = await moving_in.records_of(session, pregnancy.person_no, item_no=PREGNANCY_ITEM)
    return PregnancyDetail(pregnancy, handbooks, vouchers, checkups, changes, previous)


@dataclass(frozen=True)
class CheckupPage:
    items: list[tuple[PrenatalCheckup, str | None]]  # with the voucher used
    next_cursor: str | None


async def prenatal_checkups(
    session: AsyncSession,
    *,
    principal: Principal,
    pregnancy_id: UUID,
    limit: int = 50,
    cursor: str | None = None,
) -> CheckupPage:
    """A pregnancy's prenatal checkups by date then id, paged; the view is logged."""
    pregnancy = await get_pregnancy(session, principal, pregnancy_id)
    rows = await repository.checkups_page(
        session, pregnancy_id, after=parse_cursor(cursor), limit=limit + 1
    )
    page = rows[:limit]
    last = page[-1][0] if len(rows) > limit else None
    UnitOfWork.of(session).record_access(
        principal,
        action="prenatal_checkup.list",
        target_type="person",
        target_id=pregnancy.person_no,
        purpose="母子保健法第13条 (prenatal checkup)",
        detail={"pregnancy_id": str(pregnancy_id), "count": len(page)},
    )
    return CheckupPage(page, next_cursor((last.checkup_date, last.id) if last else None))


async def change_expected_children(
    session: AsyncSession,
    *,
    principal: Principal,
    pregnancy_id: UUID,
    expected_children: int,
    reason: str,
) -> ExpectedChildrenChange:
    """Change the number of children a pregnancy expects (one found to be twins), keeping the
    history. What a higher count entitles to (handbooks, extra vouchers) is then issued by
    `issue_handbooks`; a count below the handbooks already issued is refused."""
    pregnancy = await get_pregnancy(session, principal, pregnancy_id, for_update=True)
    if pregnancy.status != "open":
        raise Conflict("the pregnancy is closed; its expected children can no longer change")
    if expected_children == pregnancy.expected_children:
        raise InvalidInput(f"the pregnancy already expects {expected_children} children")
    issued = await repository.handbook_count(session, pregnancy_id)
    if expected_children < issued:
        raise Conflict(
            f"{issued} handbooks were already issued for this pregnancy; the expected children "
            "cannot be fewer"
        )
    change = ExpectedChildrenChange(
        pregnancy_id=pregnancy_id,
        previous=pregnancy.expected_children,
        expected_children=expected_children,
        reason=reason,
        changed_by=principal.sub,
        changed_at=datetime.now(UTC),
    )
    session.add(change)
    pregnancy.expected_children = expected_children
    await session.flush()
    events.EXPECTED_CHILDREN_CHANGED.emit(
        UnitOfWork.of(session),
        subject=str(pregnancy_id),
        tenant=principal.tenant,
        data=events.ExpectedChildrenChanged(
            pregnancy_id=str(pregnancy_id),
            person_no=pregnancy.person_no,
            previous=change.previous,
            expected_children=expected_children,
        ),
    )
    UnitOfWork.of(session).record_access(
        principal,
        action="pregnancy.expected_children.change",
        target_type="person",
        target_id=pregnancy.person_no,
        purpose=PURPOSE,
        detail={
            "pregnancy_id": str(pregnancy_id),
            "previous": change.previous,
            "expected_children": expected_children,
        },
    )
    return change


async def voucher_rule_in_force(session: AsyncSession, on: date) -> VoucherRule:
    """The voucher rule of the issue date `on` (422 before the first, 2015-04-01)."""
    rule = await repository.voucher_rule_in_force(session, on)
    if rule is None:
        raise await rules.before_the_rules(session, rule_books.VOUCHERS, field="issued_on")
    return rule


async def issue_handbooks(
    session: AsyncSession,
    *,
    principal: Principal,
    pregnancy_id: UUID,
    ward_code: str,
    issued_on: date | None = None,
) -> tuple[list[Handbook], list[PrenatalVoucher]]:
    """Issue what the pregnancy's expected children entitle it to and it does not hold yet:
    one handbook per expected child, and the prenatal checkup vouchers of the voucher rule in
    force on the issue date. After a higher count (twins found later) that is the missing
    handbooks and the extra vouchers for a multiple pregnancy."""
    ensure_ward_access(principal, ward_code)
    pregnancy = await get_pregnancy(session, principal, pregnancy_id, for_update=True)
    if pregnancy.status != "open":
        raise Conflict("the pregnancy is closed; no handbook can be issued")
    issued = await repository.handbook_count(session, pregnancy_id)
    missing = pregnancy.expected_children - issued
    if missing <= 0:
        raise Conflict(
            f"handbooks were already issued for pregnancy {pregnancy_id}, one per expected child"
        )
    on = issued_on or today_tokyo()
    if on > today_tokyo():
        raise InvalidInput("issued_on is in the future")
    if on < pregnancy.notified_on:
        raise InvalidInput("issued_on is before the notification")
    rule = await voucher_rule_in_force(session, on)
    fy = fiscal_year(on)
    first = await repository.allocate_serials(session, fy, ward_code, missing)
    handbooks = [
        Handbook(
            handbook_no=f"{fy}-{ward_digits(ward_code)}-{first + i:05d}",
            pregnancy_id=pregnancy_id,
            child_index=issued + i + 1,
            fiscal_year=fy,
            ward_code=ward_code,
            serial=first + i,
            issued_on=on,
            issued_by=principal.sub,
        )
        for i in range(missing)
    ]
    session.add_all(handbooks)
    await session.flush()
    count = rule.base_count + (rule.extra_for_multiple if pregnancy.expected_children > 1 else 0)
    held = await repository.voucher_count(session, pregnancy_id)
    # The vouchers are the mother's, one set per pregnancy, numbered on; those issued now (the
    # set, or the extra ones a later count entitles to) are bound into the first handbook
    # issued now.
    vouchers = [
        PrenatalVoucher(
            voucher_no=f"{handbooks[0].handbook_no}-{seq:02d}",
            pregnancy_id=pregnancy_id,
            handbook_id=handbooks[0].id,
            seq=seq,
        )
        for seq in range(held + 1, count + 1)
    ]
    session.add_all(vouchers)
    await session.flush()
    UnitOfWork.of(session).record_access(
        principal,
        action="handbook.issue",
        target_type="person",
        target_id=pregnancy.person_no,
        purpose=PURPOSE,
        detail={"pregnancy_id": str(pregnancy_id), "handbooks": [h.handbook_no for h in handbooks]},
    )
    for handbook in handbooks:
        events.HANDBOOK_ISSUED.emit(
            UnitOfWork.of(session),
            subject=handbook.handbook_no,
            tenant=principal.tenant,
            data=events.HandbookIssued(
                handbook_no=handbook.handbook_no,
                pregnancy_id=str(pregnancy_id),
                person_no=pregnancy.person_no,
                child_index=handbook.child_index,
                ward_code=ward_code,
                issued_on=on,
                vouchers=len(vouchers) if handbook is handbooks[0] else 0,
            ),
        )
    return handbooks, vouchers


async def record_checkup(
    session: AsyncSession, *, principal: Principal, pregnancy_id: UUID, checkup: CheckupIn
) -> tuple[PrenatalCheckup, str | None]:
    pregnancy = await lock_pregnancy(session, principal, pregnancy_id)
    if pregnancy.status != "open":
        raise Conflict("the pregnancy is closed; record no more prenatal checkups")
    if checkup.checkup_date > today_tokyo():
        raise InvalidInput("checkup_date is in the future")
    voucher: PrenatalVoucher | None = None
    if checkup.voucher_no is not None:
        voucher = await repository.voucher_for_update(session, pregnancy_id, checkup.voucher_no)
        if voucher is None:
            raise InvalidInput(f"voucher {checkup.voucher_no} was not issued for this pregnancy")
        if voucher.used_by_checkup_id is not None:
            raise Conflict(f"voucher {checkup.voucher_no} was already used on {voucher.used_on}")
    in_force = await risk.rules_in_force(session, checkup.checkup_date, pregnancy_id=pregnancy_id)
    if in_force is None:
        raise await rules.before_the_rules(session, rule_books.RISK, field="checkup_date")
    flags = risk.evaluate(
        in_force.rules,
        risk.CheckupFacts(
            gestational_weeks=checkup.gestational_weeks,
            systolic_bp=checkup.systolic_bp,
            diastolic_bp=checkup.diastolic_bp,
            is_first_checkup=in_force.is_first_checkup,
            mother_birth_date=pregnancy.birth_date,
            expected_delivery_date=pregnancy.expected_delivery_date,
        ),
    )
    record = new_row(
        PrenatalCheckup,
        pregnancy_id=pregnancy_id,
        checkup_date=checkup.checkup_date,
        gestational_weeks=checkup.gestational_weeks,
        institution=checkup.institution,
        systolic_bp=checkup.systolic_bp,
        diastolic_bp=checkup.diastolic_bp,
        urine_protein=checkup.urine_protein,
        urine_sugar=checkup.urine_sugar,
        weight_kg=checkup.weight_kg,
        oedema=checkup.oedema,
        findings=checkup.findings,
        referral=checkup.referral,
        voucher_id=voucher.id if voucher else None,
        risk_flags=flags,
        risk_rules_version=in_force.version,
        recorded_by=principal.sub,
    )
    # In the unit of work's one statement with its event and access record.
    UnitOfWork.of(session).insert(record)
    if voucher is not None:
        voucher.used_by_checkup_id = record.id
        voucher.used_on = checkup.checkup_date
        await session.flush()
    events.PRENATAL_CHECKUP_RECORDED.emit(
        UnitOfWork.of(session),
        subject=str(pregnancy_id),
        tenant=principal.tenant,
        data=events.PrenatalCheckupRecorded(
            pregnancy_id=str(pregnancy_id),
            checkup_id=str(record.id),
            person_no=pregnancy.person_no,
            checkup_date=checkup.checkup_date,
            gestational_weeks=checkup.gestational_weeks,
            voucher_used=voucher is not None,
            risk_flags=flags,
        ),
    )
    UnitOfWork.of(session).record_access(
        principal,
        action="prenatal_checkup.record",
        target_type="person",
        target_id=pregnancy.person_no,
        purpose="母子保健法第13条 (prenatal checkup)",
        detail={"pregnancy_id": str(pregnancy_id), "checkup_id": str(record.id)},
    )
    return record, voucher.voucher_no if voucher else None
