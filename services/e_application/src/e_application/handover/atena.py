"""atena's REST API as e_application uses it: only the scoped My Number lookup, with this
service's own client token (atena:mynumber:lookup)."""

import httpx

from mch_common.errors import ServiceUnavailable

LOOKUP_SCOPE = "atena:mynumber:lookup"


class AtenaClient:
    """Wraps an httpx client made in lifespan (with the service token auth attached)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def lookup_person_no(self, my_number: str) -> str | None:
        try:
            response = await self.client.post(
                "/persons/lookup-by-my-number",
                json={"my_number": my_number},
                headers={
                    "x-access-purpose": "e-application acceptance (online pregnancy notification)"
                },
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(
                "atena is unreachable; the application stays as it is, accept it again later"
            ) from exc
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise ServiceUnavailable(f"atena refused the lookup (HTTP {response.status_code})")
        person_no = response.json().get("person_no")
        return str(person_no) if person_no else None
