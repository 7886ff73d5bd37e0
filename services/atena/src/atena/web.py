"""What every atena router shares: the access-purpose header and the registry context."""

from typing import Annotated
from urllib.parse import unquote

from fastapi import Header, Request

from atena.config import Settings
from atena.context import RegistryContext
from mch_common.auth.principal import Principal

PurposeHeader = Annotated[
    str | None,
    Header(
        alias="X-Access-Purpose",
        description="why the person is read (利用目的); percent-encode non-ASCII text",
    ),
]


def registry_context(
    request: Request, principal: Principal, purpose: str | None
) -> RegistryContext:
    settings: Settings = request.app.state.settings
    text = unquote(purpose).strip()[:200] if purpose else ""
    return RegistryContext(
        tenant=settings.tenant,
        vault=settings.vault,
        principal=principal,
        purpose=text or settings.default_access_purpose,
    )
