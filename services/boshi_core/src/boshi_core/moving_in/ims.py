"""The intermediate server's REST API as boshi_core uses it: inquiries (情報照会)."""

from typing import Any

import httpx

CHECKUP_ITEM = "95"
PREGNANCY_ITEM = "80"
# The legal clause (主務省令第2条の表) each item is asked under, as the permission list has it.
CLAUSES = {
    PREGNANCY_ITEM: "主務省令第2条の表80の項",
    CHECKUP_ITEM: "主務省令第2条の表95の項",
}


class ImsUnavailable(Exception):
    """The gateway did not answer; the request stays queued."""


class ImsNotYet(Exception):
    """The gateway knows no 符号 of the person yet (atena's job has not obtained it): asked
    again on the next run."""


class ImsRefused(Exception):
    """The gateway or the provider refused the inquiry (`reason`: its problem detail)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ImsClient:
    """Wraps an httpx client made in lifespan (with the service token auth attached)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ImsUnavailable("the intermediate server is unreachable") from exc
        if response.status_code >= 500:
            raise ImsUnavailable(f"the intermediate server failed (HTTP {response.status_code})")
        if response.status_code == 404 and path == "/inquiries":
            raise ImsNotYet("the person has no 符号 at the gateway yet")
        if response.status_code >= 400:
            try:
                reason = str(response.json().get("detail", ""))
            except ValueError:
                reason = ""
            raise ImsRefused(reason or f"HTTP {response.status_code}")
        answer: dict[str, Any] = response.json()
        return answer

    async def inquire(self, *, person_no: str, provider: str, item: str) -> dict[str, Any]:
        return await self._call(
            "POST",
            "/inquiries",
            json={
                "person_no": person_no,
                "provider": provider,
                "clause": CLAUSES[item],
                "items": [item],
            },
        )

    async def inquiry(self, inquiry_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/inquiries/{inquiry_id}")
