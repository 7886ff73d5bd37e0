"""The intermediate server's client for atena: its own service token (ims:code:write)."""

import contextlib
from collections.abc import AsyncIterator

import httpx

from atena.config import Settings
from mch_common.auth.client import service_http

CODE_WRITE_SCOPE = "ims:code:write"


@contextlib.asynccontextmanager
async def ims_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    if not settings.intermediate_server_url:
        raise RuntimeError("ATENA_INTERMEDIATE_SERVER_URL is not set")
    async with service_http(
        settings,
        CODE_WRITE_SCOPE,
        base_url=settings.intermediate_server_url,
        timeout=settings.ims_timeout_seconds,
    ) as client:
        yield client
