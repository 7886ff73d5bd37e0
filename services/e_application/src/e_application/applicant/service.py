"""The applicant's sign-in: a one-time challenge signed with the user-authentication
certificate of her My Number card gives a short applicant session (only its digest is kept)."""

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from e_application.applicant.models import ApplicantSession, Challenge
from e_application.applications import repository
from e_application.applications.models import Application, ApplicationHistory, ApplicationVersion
from e_application.applications.service import applicant_card, applicant_principal
from e_application.signing.trust import TrustStore
from mch_common.auth.principal import Principal
from mch_common.db import insert_new
from mch_common.errors import InvalidInput, NotFound, Unauthorized
from mch_common.work import UnitOfWork

_USE_CHALLENGE = (
    update(Challenge)
    .where(
        Challenge.id == bindparam("cid"),
        Challenge.used_at.is_(None),
        Challenge.expires_at > bindparam("now"),
    )
    .values(used_at=bindparam("now"))
    .returning(Challenge.nonce)
)
_SESSION = select(ApplicantSession).where(
    ApplicantSession.token_sha256 == bindparam("digest"),
    ApplicantSession.expires_at > bindparam("now"),
)
_EXPIRED = delete(ApplicantSession).where(ApplicantSession.expires_at <= bindparam("now"))
SESSION_REFUSED = "no valid applicant session: sign in again with your My Number card"


async def new_challenge(session: AsyncSession, *, lifetime: timedelta) -> Challenge:
    challenge = Challenge(nonce=secrets.token_bytes(32), expires_at=datetime.now(UTC) + lifetime)
    await insert_new(session, challenge)
    return challenge


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what} is not valid base64") from None


async def open_session(
    session: AsyncSession,
    *,
    trust: TrustStore,
    challenge_id: UUID,
    certificate: str,
    signature: str,
    lifetime: timedelta,
    tenant: str,
) -> tuple[str, ApplicantSession]:
    """The session token (shown once) and its row."""
    now = datetime.now(UTC)
    cert_der, sig = _b64(certificate, "certificate"), _b64(signature, "signature")
    nonce = (await session.execute(_USE_CHALLENGE, {"cid": challenge_id, "now": now})).scalar()
    if nonce is None:
        raise Unauthorized("the challenge is unknown, used or expired; ask for a new one")
    result = trust.verify_challenge(
        certificate_der=cert_der, signature=sig, challenge=nonce, now=now
    )
    if not result.ok or result.card is None:
        reasons = "; ".join(c.detail for c in result.failures()) or "the certificate names no card"
        raise Unauthorized(f"sign-in refused: {reasons}")
    token = secrets.token_urlsafe(32)
    row = ApplicantSession(
        token_sha256=hashlib.sha256(token.encode()).hexdigest(),
        card_id=result.card,
        expires_at=now + lifetime,
    )
    await session.execute(_EXPIRED, {"now": now})
    await insert_new(session, row)
    UnitOfWork.of(session).record_access(
        applicant_principal(result.card, tenant=tenant),
        action="applicant.sign_in",
        target_type="applicant",
        target_id=result.card,
        detail={"certificate_serial": result.serial, "authority": result.authority},
    )
    return token, row


async def applicant_of(session: AsyncSession, *, token: str | None, tenant: str) -> Principal:
    if not token:
        raise Unauthorized(SESSION_REFUSED)
    digest = hashlib.sha256(token.encode()).hexdigest()
    row = (
        await session.execute(_SESSION, {"digest": digest, "now": datetime.now(UTC)})
    ).scalar_one_or_none()
    if row is None:
        raise Unauthorized(SESSION_REFUSED)
    return applicant_principal(row.card_id, tenant=tenant)


@dataclass(frozen=True)
class OwnView:
    application: Application
    versions: list[ApplicationVersion]
    history: list[ApplicationHistory]


async def own_applications(session: AsyncSession, *, applicant: Principal) -> list[OwnView]:
    views = []
    for application in await repository.by_card(session, applicant_card(applicant)):
        if application.status != "deleted":
            views.append(await _view(session, application))
    UnitOfWork.of(session).record_access(
        applicant,
        action="applicant.list",
        target_type="application_list",
        detail={"count": len(views)},
    )
    return views


async def own_application(
    session: AsyncSession, *, applicant: Principal, receipt_no: str
) -> OwnView:
    """Her application with every version and the history; another applicant's is a miss."""
    application = await repository.by_receipt(session, receipt_no)
    if (
        application is None
        or application.status == "deleted"
        or application.card_id != applicant_card(applicant)
    ):
        raise NotFound(f"no application {receipt_no} of yours")
    UnitOfWork.of(session).record_access(
        applicant,
        action="applicant.view",
        target_type="application",
        target_id=str(application.id),
        persons=[application.person_no] if application.person_no else (),
    )
    return await _view(session, application)


async def _view(session: AsyncSession, application: Application) -> OwnView:
    return OwnView(
        application,
        await repository.versions(session, application.id),
        await repository.history(session, application.id),
    )
