"""e_application's hand-over export as boshi_core pulls it, with its own client token
(eapp:export:pull): the accepted online notifications (person number, never the My Number),
and the confirmation that one was taken."""

from typing import Any

import httpx

from mch_common.errors import ServiceUnavailable

EXPORT_SCOPE = "eapp:export:pull"


class EappClient:
    """Wraps an httpx client (base URL e_application, service token auth attached)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable("e_application is unreachable; pull again later") from exc
        if response.status_code >= 400:
            raise ServiceUnavailable(
                f"e_application refused the hand-over call (HTTP {response.status_code})"
            )
        return response

    async def accepted(self, *, limit: int = 100) -> list[dict[str, Any]]:
        response = await self._call(
            "GET", "/exports/accepted", params={"handover": "boshi_pregnancy", "limit": limit}
        )
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def confirm(self, receipt_no: str) -> None:
        await self._call("POST", f"/exports/accepted/{receipt_no}/handed-over")
