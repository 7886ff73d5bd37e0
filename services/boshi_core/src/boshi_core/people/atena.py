"""atena's REST API as boshi_core uses it: only the scoped My Number lookup."""

import httpx
from pydantic import SecretStr

from mch_common.errors import ServiceUnavailable


class AtenaClient:
    """Wraps an httpx client made in lifespan (with the service token auth attached)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def lookup_person_no(self, my_number: SecretStr) -> str | None:
        """`my_number` was checked when the request was parsed (mch_common.inputs.MyNumber)."""
        try:
            response = await self.client.post(
                "/persons/lookup-by-my-number", json={"my_number": my_number.get_secret_value()}
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(
                "atena is unreachable; search by person number, or retry later"
            ) from exc
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise ServiceUnavailable(f"atena refused the lookup (HTTP {response.status_code})")
        person_no = response.json().get("person_no")
        return str(person_no) if person_no else None
