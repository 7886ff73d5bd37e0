"""Rule versions over HTTP: per book, its versions (paged), the one in force on a date, and a
new version taking effect on a later date (boshi:rules:admin; access-logged)."""

from datetime import date
from typing import Annotated

from fastapi import Path, Query, status

from boshi_core.checkups.schemas import ProgrammeCode
from boshi_core.deps import RulesAdmin, RulesReader
from boshi_core.rules import repository, service
from boshi_core.rules.schemas import (
    BirthRuleIn,
    BirthRuleOut,
    BirthRulePage,
    ProgrammeVersionIn,
    ProgrammeVersionOut,
    ProgrammeVersionPage,
    RiskRulesIn,
    RiskRulesOut,
    RiskRulesPage,
    VoucherRuleIn,
    VoucherRuleOut,
    VoucherRulePage,
)
from mch_common.openapi import problem_responses
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(prefix="/rules", tags=["rules"])

Limit = Annotated[int, Query(ge=1, le=200)]
Before = Annotated[
    date | None, Query(description="the previous page's next_before: versions effective earlier")
]
On = Annotated[date | None, Query(description="the day asked about; default today (Asia/Tokyo)")]
Code = Annotated[ProgrammeCode, Path(description="the checkup programme")]
IN_FORCE = problem_responses(404)  # no version in force that day
EffectiveFrom = Annotated[date, Path(description="the version's effective_from")]
WITHDRAW = (
    "Withdraws a version that has not taken effect yet (a mistake, a decision reversed) and "
    "answers it; a version in force or past answers 409 and stays. The access record "
    "(`rules.version.withdraw`) keeps the values withdrawn."
)
ADD = (
    "Adds a version that takes effect on `effective_from`, which must be after today (422): a "
    "version in force or past is never rewritten. A second version from the same date answers "
    "409 (withdraw a mistaken version still to come with DELETE, then add it again). The "
    "change is recorded in the access log (`rules.version.add`) with who made it."
)


@router.get("/prenatal-vouchers", summary="Prenatal voucher rule versions (受診券の交付枚数)")
async def voucher_rules(
    session: Session, principal: RulesReader, limit: Limit = 50, before: Before = None
) -> VoucherRulePage:
    page = await service.versions(session, book=repository.VOUCHERS, before=before, limit=limit)
    return VoucherRulePage(
        items=[VoucherRuleOut.model_validate(r) for r in page.items], next_before=page.next_before
    )


@router.get(
    "/prenatal-vouchers/in-force",
    responses=IN_FORCE,
    summary="The prenatal voucher rule in force on a date (the handbook's issue date decides)",
)
async def voucher_rule_in_force(
    session: Session, principal: RulesReader, on: On = None
) -> VoucherRuleOut:
    return VoucherRuleOut.model_validate(
        await service.in_force(session, book=repository.VOUCHERS, on=on)
    )


@router.post(
    "/prenatal-vouchers",
    status_code=status.HTTP_201_CREATED,
    summary="Add a prenatal voucher rule version from a later date",
    description=ADD,
)
async def add_voucher_rule(
    body: VoucherRuleIn, session: Session, principal: RulesAdmin
) -> VoucherRuleOut:
    row = await service.add_version(
        session,
        principal=principal,
        book=repository.VOUCHERS,
        effective_from=body.effective_from,
        fields=body.model_dump(exclude={"effective_from"}),
    )
    return VoucherRuleOut.model_validate(row)


@router.get("/prenatal-risk", summary="Prenatal risk rule versions (妊婦のリスク判定基準)")
async def risk_rules(
    session: Session, principal: RulesReader, limit: Limit = 50, before: Before = None
) -> RiskRulesPage:
    page = await service.versions(session, book=repository.RISK, before=before, limit=limit)
    return RiskRulesPage(
        items=[RiskRulesOut.model_validate(r) for r in page.items], next_before=page.next_before
    )


@router.get(
    "/prenatal-risk/in-force",
    responses=IN_FORCE,
    summary="The prenatal risk rules in force on a date (the checkup date decides)",
)
async def risk_rules_in_force(
    session: Session, principal: RulesReader, on: On = None
) -> RiskRulesOut:
    return RiskRulesOut.model_validate(await service.in_force(session, book=repository.RISK, on=on))


@router.post(
    "/prenatal-risk",
    status_code=status.HTTP_201_CREATED,
    summary="Add a prenatal risk rule version from a later date",
    description=ADD + " Each checkup records the version number it was judged by.",
)
async def add_risk_rules(
    body: RiskRulesIn, session: Session, principal: RulesAdmin
) -> RiskRulesOut:
    row = await service.add_version(
        session,
        principal=principal,
        book=repository.RISK,
        effective_from=body.effective_from,
        fields={"source": body.source, "rules": body.rules.model_dump(exclude_none=True)},
    )
    return RiskRulesOut.model_validate(row)


@router.get(
    "/birth-follow-up",
    summary="Birth follow-up rule versions: low birth weight, newborn, infant household and "
    "premature infant visits (低体重児・新生児訪問・乳児家庭全戸訪問・未熟児訪問)",
)
async def birth_rules(
    session: Session, principal: RulesReader, limit: Limit = 50, before: Before = None
) -> BirthRulePage:
    page = await service.versions(session, book=repository.BIRTH, before=before, limit=limit)
    return BirthRulePage(
        items=[BirthRuleOut.model_validate(r) for r in page.items], next_before=page.next_before
    )


@router.get(
    "/birth-follow-up/in-force",
    responses=IN_FORCE,
    summary="The birth follow-up rule in force on a date (the birth date decides; for the "
    "premature infant visit's days, the notification date)",
)
async def birth_rule_in_force(
    session: Session, principal: RulesReader, on: On = None
) -> BirthRuleOut:
    return BirthRuleOut.model_validate(
        await service.in_force(session, book=repository.BIRTH, on=on)
    )


@router.post(
    "/birth-follow-up",
    status_code=status.HTTP_201_CREATED,
    summary="Add a birth follow-up rule version from a later date",
    description=ADD + " Children born from that date are judged by it; children born "
    "before keep the windows and threshold of their birth date.",
)
async def add_birth_rule(
    body: BirthRuleIn, session: Session, principal: RulesAdmin
) -> BirthRuleOut:
    row = await service.add_version(
        session,
        principal=principal,
        book=repository.BIRTH,
        effective_from=body.effective_from,
        fields=body.model_dump(exclude={"effective_from"}),
    )
    return BirthRuleOut.model_validate(row)


@router.get(
    "/checkup-programmes/{code}",
    summary="An infant checkup programme's versions (乳幼児健康診査の実施基準)",
)
async def programme_versions(
    code: Code, session: Session, principal: RulesReader, limit: Limit = 50, before: Before = None
) -> ProgrammeVersionPage:
    page = await service.versions(
        session, book=repository.PROGRAMMES, code=code, before=before, limit=limit
    )
    return ProgrammeVersionPage(
        items=[ProgrammeVersionOut.model_validate(r) for r in page.items],
        next_before=page.next_before,
    )


@router.get(
    "/checkup-programmes/{code}/in-force",
    summary="The programme's version in force on a date (a month's extraction uses the version "
    "in force on the month's first day; a detailed-examination voucher, on its issue date)",
)
async def programme_in_force(
    code: Code, session: Session, principal: RulesReader, on: On = None
) -> ProgrammeVersionOut:
    return ProgrammeVersionOut.model_validate(
        await service.in_force(session, book=repository.PROGRAMMES, code=code, on=on)
    )


@router.post(
    "/checkup-programmes/{code}",
    status_code=status.HTTP_201_CREATED,
    summary="Add a version of an infant checkup programme from a later date",
    description=ADD + " Months from the version's first month use its window and reminder point.",
)
async def add_programme_version(
    code: Code, body: ProgrammeVersionIn, session: Session, principal: RulesAdmin
) -> ProgrammeVersionOut:
    row = await service.add_version(
        session,
        principal=principal,
        book=repository.PROGRAMMES,
        code=code,
        effective_from=body.effective_from,
        fields=body.model_dump(exclude={"effective_from"}),
    )
    return ProgrammeVersionOut.model_validate(row)


@router.delete(
    "/prenatal-vouchers/{effective_from}",
    summary="Withdraw a prenatal voucher rule version that has not taken effect yet",
    description=WITHDRAW,
)
async def withdraw_voucher_rule(
    effective_from: EffectiveFrom, session: Session, principal: RulesAdmin
) -> VoucherRuleOut:
    row = await service.withdraw_version(
        session, principal=principal, book=repository.VOUCHERS, effective_from=effective_from
    )
    return VoucherRuleOut.model_validate(row)


@router.delete(
    "/prenatal-risk/{effective_from}",
    summary="Withdraw a prenatal risk rule version that has not taken effect yet",
    description=WITHDRAW,
)
async def withdraw_risk_rules(
    effective_from: EffectiveFrom, session: Session, principal: RulesAdmin
) -> RiskRulesOut:
    row = await service.withdraw_version(
        session, principal=principal, book=repository.RISK, effective_from=effective_from
    )
    return RiskRulesOut.model_validate(row)


@router.delete(
    "/birth-follow-up/{effective_from}",
    summary="Withdraw a birth follow-up rule version that has not taken effect yet",
    description=WITHDRAW,
)
async def withdraw_birth_rule(
    effective_from: EffectiveFrom, session: Session, principal: RulesAdmin
) -> BirthRuleOut:
    row = await service.withdraw_version(
        session, principal=principal, book=repository.BIRTH, effective_from=effective_from
    )
    return BirthRuleOut.model_validate(row)


@router.delete(
    "/checkup-programmes/{code}/{effective_from}",
    summary="Withdraw a programme version that has not taken effect yet",
    description=WITHDRAW,
)
async def withdraw_programme_version(
    code: Code, effective_from: EffectiveFrom, session: Session, principal: RulesAdmin
) -> ProgrammeVersionOut:
    row = await service.withdraw_version(
        session,
        principal=principal,
        book=repository.PROGRAMMES,
        code=code,
        effective_from=effective_from,
    )
    return ProgrammeVersionOut.model_validate(row)
