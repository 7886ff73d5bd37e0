"""The registry of disclosure sources (configuration, `Settings.disclosure_sources`) and the
client that asks each one, with a boshi_core service token for the source's scope."""

from dataclasses import dataclass
from typing import Any

import httpx

from boshi_core.config import DisclosureSource, Settings
from mch_common.auth.client import ServiceAuth, ServiceTokenClient
from mch_common.errors import ServiceUnavailable


@dataclass(frozen=True)
class SourceAnswer:
    """What one service holds: its export, or None when it holds nothing about the person."""

    service: str
    export: dict[str, Any] | None


class DisclosureSources:
    """Made in lifespan; one token client per scope (each renews its own token)."""

    def __init__(self, settings: Settings, *, http: httpx.AsyncClient | None = None) -> None:
        self.sources: dict[str, DisclosureSource] = dict(settings.disclosure_sources)
        self._http = http or httpx.AsyncClient(timeout=settings.disclosure_timeout_seconds)
        self._tokens = {
            scope: ServiceTokenClient(
                settings.token_url, settings.client_id, settings.client_secret, scope
            )
            for scope in {source.scope for source in self.sources.values()}
        }

    @property
    def names(self) -> list[str]:
        return sorted(self.sources)

    async def ask(self, name: str, person_no: str) -> SourceAnswer:
        """The service's export for the person. A 404 means it holds nothing about them; any
        other failure fails the collection (an export is complete or not made)."""
        source = self.sources[name]
        url = source.url.format(person_no=person_no)
        try:
            response = await self._http.get(url, auth=ServiceAuth(self._tokens[source.scope]))
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"{name} did not answer the disclosure; retry later") from exc
        if response.status_code == 404:
            return SourceAnswer(name, None)
        if response.status_code != 200:
            raise ServiceUnavailable(
                f"{name} refused the disclosure (HTTP {response.status_code}); retry later"
            )
        body: dict[str, Any] = response.json()
        return SourceAnswer(name, body)

    async def close(self) -> None:
        await self._http.aclose()
        for tokens in self._tokens.values():
            await tokens.close()
