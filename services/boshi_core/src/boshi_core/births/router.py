from uuid import UUID

from fastapi import status

from boshi_core.births import service
from boshi_core.births.schemas import (
    ChildOut,
    LowBirthWeightIn,
    LowBirthWeightOut,
    OutcomeIn,
    OutcomeOut,
)
from boshi_core.deps import PregnancyReader, PregnancyWriter, VisitWriter
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(tags=["births"])


def child_out(record: service.BirthRecord) -> ChildOut:
    return ChildOut.model_validate(
        {
            **{
                k: getattr(record.child, k)
                for k in ChildOut.model_fields
                if k != "low_birth_weight"
            },
            "low_birth_weight": record.low_birth_weight,
        }
    )


@router.post(
    "/pregnancies/{pregnancy_id}/outcome",
    status_code=status.HTTP_201_CREATED,
    summary="Record how the pregnancy ended and close it (妊娠の転帰: 出生・流産・死産)",
)
async def record_outcome(
    pregnancy_id: UUID, body: OutcomeIn, session: Session, principal: PregnancyWriter
) -> OutcomeOut:
    pregnancy, children = await service.record_outcome(
        session, principal=principal, pregnancy_id=pregnancy_id, outcome=body
    )
    return OutcomeOut(
        pregnancy_id=pregnancy.id,
        status=pregnancy.status,
        outcome=pregnancy.outcome or "",
        children=[child_out(c) for c in children],
    )


@router.get(
    "/children/{child_id}",
    summary="A child's birth record (出生の記録; logged)",
)
async def get_child(child_id: UUID, session: Session, principal: PregnancyReader) -> ChildOut:
    return child_out(await service.view_child(session, principal=principal, child_id=child_id))


@router.post(
    "/children/{child_id}/low-birth-weight-notification",
    status_code=status.HTTP_201_CREATED,
    summary="Low birth weight notification (低体重児の届出); opens a premature infant visit",
    description=(
        "For a child whose birth weight is under the threshold of the birth follow-up rule in "
        "force on the birth date (2,500 g; `GET /rules/birth-follow-up/in-force?on=<birth "
        "date>`), else 422. The premature infant visit is due `premature_visit_due_days` "
        "after the notification, by the rule in force on the notification date."
    ),
)
async def notify_low_birth_weight(
    child_id: UUID,
    body: LowBirthWeightIn,
    session: Session,
    principal: VisitWriter,
) -> LowBirthWeightOut:
    record, visit = await service.notify_low_birth_weight(
        session, principal=principal, child_id=child_id, notification=body
    )
    return LowBirthWeightOut.model_validate(
        {
            **{
                k: getattr(record, k)
                for k in LowBirthWeightOut.model_fields
                if k != "premature_visit_id"
            },
            "premature_visit_id": visit.id,
        }
    )
