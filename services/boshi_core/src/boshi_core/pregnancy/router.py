from typing import Annotated
from uuid import UUID

from fastapi import Query, status

from boshi_core.deps import Atena, PregnancyReader, PregnancyWriter
from boshi_core.moving_in.schemas import PreviousCityNotificationOut
from boshi_core.pregnancy import service
from boshi_core.pregnancy.schemas import (
    CheckupIn,
    CheckupOut,
    CheckupPageOut,
    ExpectedChildrenChangeIn,
    ExpectedChildrenChangeOut,
    HandbookIssueIn,
    HandbookIssueOut,
    HandbookOut,
    PregnancyDetailOut,
    PregnancyOut,
    VoucherOut,
    WindowNotificationIn,
)
from mch_common.answers import answer_from
from mch_common.openapi import problem_responses
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(prefix="/pregnancies", tags=["pregnancy"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 503),  # an unknown person; atena does not answer
    summary="Pregnancy notification at the ward window (妊娠の届出); identity checked by staff",
)
async def notify_at_window(
    body: WindowNotificationIn, session: Session, principal: PregnancyWriter, atena: Atena
) -> PregnancyOut:
    pregnancy = await service.notify_at_window(
        session,
        principal=principal,
        atena=atena,
        person_no=body.person_no,
        my_number=body.my_number,
        form=body.form,
        identity_check=body.identity_check,
    )
    return answer_from(PregnancyOut, pregnancy)


@router.get(
    "/{pregnancy_id}", summary="A pregnancy with its handbooks, vouchers and checkups (妊娠の記録)"
)
async def get_pregnancy(
    pregnancy_id: UUID, session: Session, principal: PregnancyReader
) -> PregnancyDetailOut:
    detail = await service.view_pregnancy(
        session,
        principal=principal,
        pregnancy_id=pregnancy_id,
        purpose="母子保健事務 (pregnancy record)",
    )
    checkups = [
        CheckupOut.model_validate(c).model_copy(update={"voucher_no": voucher_no})
        for c, voucher_no in detail.checkups
    ]
    return PregnancyDetailOut(
        pregnancy=PregnancyOut.model_validate(detail.pregnancy),
        handbooks=[HandbookOut.model_validate(h) for h in detail.handbooks],
        vouchers=[VoucherOut.model_validate(v) for v in detail.vouchers],
        checkups=checkups,
        risk_flags=sorted({flag for c in checkups for flag in c.risk_flags}),
        expected_children_changes=[
            ExpectedChildrenChangeOut.model_validate(c) for c in detail.expected_children_changes
        ],
        previous_city_notifications=[
            PreviousCityNotificationOut.of(r) for r in detail.previous_city_notifications
        ],
    )


@router.post(
    "/{pregnancy_id}/expected-children",
    status_code=status.HTTP_201_CREATED,
    summary="Change the number of expected children (one found to be twins), with the reason",
    description=(
        "Records who changed the count, when and why; the pregnancy's record keeps every change "
        "(`expected_children_changes`). A higher count entitles to more: issue it with `POST "
        "/pregnancies/{id}/handbooks`, which then issues the missing handbooks and the extra "
        "vouchers of the voucher rule in force on the issue date. A count below the handbooks "
        "already issued, or a closed pregnancy, answers 409."
    ),
)
async def change_expected_children(
    pregnancy_id: UUID, body: ExpectedChildrenChangeIn, session: Session, principal: PregnancyWriter
) -> ExpectedChildrenChangeOut:
    change = await service.change_expected_children(
        session,
        principal=principal,
        pregnancy_id=pregnancy_id,
        expected_children=body.expected_children,
        reason=body.reason,
    )
    return ExpectedChildrenChangeOut.model_validate(change)


@router.post(
    "/{pregnancy_id}/handbooks",
    status_code=status.HTTP_201_CREATED,
    summary="Issue the MCH handbooks (母子健康手帳の交付), one per expected child, "
    "and the checkup vouchers",
    description=(
        "Issues what the expected children entitle the pregnancy to and it does not hold yet: "
        "the first call one handbook per expected child and the vouchers; after the count was "
        "raised, the missing handbooks and the extra vouchers, bound into the first handbook "
        "issued then. 409 when every expected child has its handbook."
    ),
)
async def issue_handbooks(
    pregnancy_id: UUID, body: HandbookIssueIn, session: Session, principal: PregnancyWriter
) -> HandbookIssueOut:
    handbooks, vouchers = await service.issue_handbooks(
        session,
        principal=principal,
        pregnancy_id=pregnancy_id,
        ward_code=body.ward_code,
        issued_on=body.issued_on,
    )
    return HandbookIssueOut(
        handbooks=[HandbookOut.model_validate(h) for h in handbooks],
        vouchers=[VoucherOut.model_validate(v) for v in vouchers],
    )


@router.post(
    "/{pregnancy_id}/checkups",
    status_code=status.HTTP_201_CREATED,
    summary="Record a prenatal checkup result (妊婦健康診査); uses a voucher when given",
)
async def record_checkup(
    pregnancy_id: UUID, body: CheckupIn, session: Session, principal: PregnancyWriter
) -> CheckupOut:
    record, voucher_no = await service.record_checkup(
        session, principal=principal, pregnancy_id=pregnancy_id, checkup=body
    )
    return CheckupOut.model_validate(record).model_copy(update={"voucher_no": voucher_no})


@router.get(
    "/{pregnancy_id}/checkups",
    summary="A pregnancy's prenatal checkups, paged (妊婦健康診査の記録; logged)",
    description=(
        "By checkup date then id, each with the voucher it used and the risk flags of the rule "
        "version it was judged by; paged by `cursor` = the previous page's `next_cursor`."
    ),
)
async def list_checkups(
    pregnancy_id: UUID,
    session: Session,
    principal: PregnancyReader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=100, description="the previous page's next_cursor")
    ] = None,
) -> CheckupPageOut:
    page = await service.prenatal_checkups(
        session, principal=principal, pregnancy_id=pregnancy_id, limit=limit, cursor=cursor
    )
    return CheckupPageOut(
        items=[
            CheckupOut.model_validate(c).model_copy(update={"voucher_no": voucher_no})
            for c, voucher_no in page.items
        ],
        next_cursor=page.next_cursor,
    )
