"""Who is calling: built from a verified JWT."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    sub: str
    tenant: str
    scopes: frozenset[str]
    roles: tuple[str, ...] = ()
    dept: str | None = None
    ward: str | None = None  # None for city-wide roles
    terminal: str | None = None
    jti: str | None = None
    is_service: bool = False
    claims: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def city_wide(self) -> bool:
        return self.ward is None
