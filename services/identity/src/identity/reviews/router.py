"""User-list export and reviews. Export and review creation: identity:user:admin; reading
reviews: identity:audit:read too; sign-off: identity:review:sign (someone else than the author)."""

import uuid
from typing import Annotated, Any

from fastapi.responses import PlainTextResponse, Response

from identity.deps import AUDIT_READ, USER_ADMIN, ReviewSigner, UserAdmin
from identity.reviews import service
from identity.reviews.models import UserReview
from identity.reviews.schemas import PendingChanges, ReviewCreate, ReviewOut
from mch_common.auth.deps import require_any_scope
from mch_common.auth.principal import Principal
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(tags=["user-list review"])
CSV = "text/csv; charset=utf-8"
# The CSV routes' answer in the OpenAPI document (with response_class=Response; FastAPI would
# document application/json).
CSV_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}
}


Reader = Annotated[Principal, require_any_scope(USER_ADMIN, AUDIT_READ)]


def review_out(review: UserReview) -> ReviewOut:
    out = ReviewOut.model_validate(review)
    out.users = len(review.rows)
    return out


def _csv(body: str, filename: str) -> PlainTextResponse:
    return PlainTextResponse(
        body, media_type=CSV, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get(
    "/admin/users/export.csv",
    summary="The current user list (stable rows and columns)",
    response_class=Response,
    responses=CSV_ANSWER,
)
async def export(session: Session, actor: UserAdmin) -> PlainTextResponse:
    return _csv(await service.export_csv(session, actor=actor), "users.csv")


@router.get(
    "/admin/user-reviews/pending-changes",
    summary="What changed since the last review (nothing is recorded)",
)
async def pending(session: Session, actor: Reader) -> PendingChanges:
    return PendingChanges.model_validate(await service.pending_changes(session, actor=actor))


@router.post(
    "/admin/user-reviews",
    status_code=201,
    summary="Export the user list for review, recording what changed since the last one",
)
async def create(body: ReviewCreate, session: Session, actor: UserAdmin) -> ReviewOut:
    return review_out(await service.create_review(session, actor=actor, note=body.note))


@router.get("/admin/user-reviews")
async def list_reviews(session: Session, actor: Reader) -> list[ReviewOut]:
    return [review_out(r) for r in await service.list_reviews(session)]


@router.get("/admin/user-reviews/{review_id}")
async def get(review_id: uuid.UUID, session: Session, actor: Reader) -> ReviewOut:
    return review_out(await service.get_review(session, review_id=review_id))


@router.get(
    "/admin/user-reviews/{review_id}/users.csv",
    summary="The list as exported then",
    response_class=Response,
    responses=CSV_ANSWER,
)
async def review_csv(review_id: uuid.UUID, session: Session, actor: Reader) -> PlainTextResponse:
    review = await service.get_review(session, review_id=review_id)
    return _csv(service.to_csv(review.rows), f"users-review-{review.number}.csv")


@router.get(
    "/admin/user-reviews/{review_id}/diff.csv",
    summary="Changes since the previous review: change,login_id,user_id,field,before,after",
    response_class=Response,
    responses=CSV_ANSWER,
)
async def review_diff_csv(
    review_id: uuid.UUID, session: Session, actor: Reader
) -> PlainTextResponse:
    review = await service.get_review(session, review_id=review_id)
    return _csv(service.diff_csv(review.diff), f"users-review-{review.number}-diff.csv")


@router.post("/admin/user-reviews/{review_id}/sign-off")
async def sign_off(
    review_id: uuid.UUID, body: ReviewCreate, session: Session, actor: ReviewSigner
) -> ReviewOut:
    return review_out(
        await service.sign_off(session, actor=actor, review_id=review_id, note=body.note)
    )
