"""atena's REST API as boshi_core uses it: only the scoped My Number lookup."""

import httpx

from mch_common.errors import InvalidInput, ServiceUnavailable
from mch_common.mynumber import is_valid_my_number, normalize_my_number


class AtenaClient:
    """Wraps an httpx client made in lifespan (with the service token auth attached)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def lookup_person_no(self, my_number: str) -> str | None:
        number = normalize_my_number(my_number)
        if not is_valid_my_number(number):
            raise InvalidInput("the My Number is not 12 digits with a valid check digit")
        try:
            response = await self.client.post(
                "/persons/lookup-by-my-number", json={"my_number": number}
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
