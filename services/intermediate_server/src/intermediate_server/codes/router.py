"""Code management (符号管理) routes."""

from intermediate_server.codes import service
from intermediate_server.codes.schemas import CodesIn, CodesObtainedOut
from intermediate_server.deps import CodeWriter, NetworkGateway, TenantSession
from mch_common.routes import ServiceRouter

router = ServiceRouter(tags=["codes"])


@router.post(
    "/codes", summary="Obtain the 符号 of people with a My Number (符号取得), one or a batch"
)
async def obtain_codes(
    body: CodesIn,
    session: TenantSession,
    principal: CodeWriter,
    network: NetworkGateway,
) -> CodesObtainedOut:
    result = await service.obtain_codes(
        session,
        principal=principal,
        hub=network.hub,
        cipher=network.cipher,
        people=[
            service.PersonWithMyNumber(p.person_no, p.my_number.get_secret_value())
            for p in body.people
        ],
    )
    return CodesObtainedOut(obtained=result.obtained)
