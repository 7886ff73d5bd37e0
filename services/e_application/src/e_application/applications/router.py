"""The two ways in: the city's own form and the national portal (子育てワンストップサービス /
ぴったりサービス). Both send the same signed package, verified the same way; the channel is
recorded. The body is read as bytes: the package is kept exactly as it arrived."""

from fastapi import Request

from e_application.applications import service
from e_application.applications.models import Application, ApplicationVersion
from e_application.applications.schemas import PACKAGE_BODY, CheckOut, ReceiptOut
from e_application.deps import IntakeDep, PortalDeliverer
from e_application.signing.package import MAX_PACKAGE_BYTES
from mch_common.errors import InvalidInput
from mch_common.openapi import problem_responses
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(tags=["submission"])


async def _package(request: Request) -> bytes:
    raw = await request.body()
    if len(raw) > MAX_PACKAGE_BYTES:
        raise InvalidInput(f"the package is larger than {MAX_PACKAGE_BYTES} bytes")
    return raw


def _receipt(application: Application, version: ApplicationVersion) -> ReceiptOut:
    return ReceiptOut(
        application_id=application.id,
        receipt_no=application.receipt_no,
        status=application.status,
        procedure=application.procedure_code,
        procedure_version=application.procedure_version,
        version_no=version.version_no,
        channel=version.channel,
        purpose=application.purpose,
        checks=[CheckOut(**c) for c in version.checks],
    )


@router.post(
    "/applications",
    status_code=201,
    summary="Submit a signed application from the city's form (電子申請)",
    openapi_extra=PACKAGE_BODY,
    responses=problem_responses(422),
)
async def submit_from_city_form(
    request: Request, session: Session, intake: IntakeDep
) -> ReceiptOut:
    application, version = await service.submit(
        session, intake=intake, raw=await _package(request), channel="city_form"
    )
    return _receipt(application, version)


@router.post(
    "/portal/packages",
    status_code=201,
    summary="A signed package delivered by the national portal (ぴったりサービス)",
    openapi_extra=PACKAGE_BODY,
    responses=problem_responses(422),
)
async def deliver_from_portal(
    request: Request, session: Session, intake: IntakeDep, principal: PortalDeliverer
) -> ReceiptOut:
    del principal  # the portal's client token: who may deliver
    application, version = await service.submit(
        session, intake=intake, raw=await _package(request), channel="portal"
    )
    return _receipt(application, version)
