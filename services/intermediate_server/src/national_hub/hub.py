"""The hub's interface to municipal gateways: 符号 issuance, permits and routing."""

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mch_common.ids import uuid7
from national_hub.config import HubKeys
from national_hub.permission_list import Rule, RuleCache, in_force, not_allowed, rules_on
from national_hub.permits import Permit, sign_permit

_FIND_OR_ADD_PERSON = text(
    "WITH added AS (INSERT INTO hub.person (id, my_number_index) VALUES (:id, :idx) "
    "ON CONFLICT (my_number_index) DO NOTHING RETURNING id) "
    "SELECT id FROM added UNION ALL SELECT id FROM hub.person WHERE my_number_index = :idx"
)
_ADD_CODE = text(
    "INSERT INTO hub.issued_code (code, institution, person_id) VALUES (:code, :inst, :pid) "
    "ON CONFLICT DO NOTHING"
)
# An inquiry's read, one statement: the person behind the requester's 符号 and the list's
# stamp (its rules are cached per process until the stamp moves).
_ROUTE_READ = text(
    "SELECT (SELECT person_id FROM hub.issued_code WHERE code = :code AND institution = :inst)"
    " AS person_id, max(list_version) AS list_version, count(*) AS list_rows"
    " FROM hub.permission_rule"
)
_LOG_PERMIT = text(
    "INSERT INTO hub.issued_permit (jti, requester, provider, clause, items, issued_at,"
    " expires_at, refused_reason) VALUES (:jti, :requester, :provider, :clause,"
    " CAST(:items AS text[]), :issued_at, :expires_at, :refused_reason)"
)


class PermitRefused(Exception):
    """The hub refused to issue a permit; `reason` says why (never names the person)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RoutedInquiry:
    """What the hub hands the provider: the signed permit and the provider's 符号."""

    permit: str
    provider_code: str
    jti: uuid.UUID


class NationalHub:
    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], keys: HubKeys) -> None:
        self._sessions = sessions
        self._keys = keys
        self._rules = RuleCache()
        self._public_key = keys.signing_key.public_key()

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._public_key

    @property
    def signing_key_id(self) -> str:
        return self._keys.signing_key_id

    @property
    def signing_key_expires_at(self) -> datetime:
        return self._keys.signing_key_expires_at

    def _code(self, institution: str, person_id: uuid.UUID) -> str:
        """A keyed hash of the hub's random person id: irreversible, different per institution,
        and computable only with the hub's secret (not from the My Number, nor from another
        institution's 符号)."""
        mac = hmac.new(self._keys.code_secret, f"{institution}:{person_id}".encode(), "sha256")
        return base64.b32encode(mac.digest()[:20]).decode()

    async def obtain_code(self, *, institution: str, my_number: str) -> str:
        """The 符号 of the person with `my_number` for `institution` (the same on every call)."""
        index = hmac.new(self._keys.index_secret, my_number.encode(), hashlib.sha256).digest()
        async with self._sessions() as session, session.begin():
            person_id = (
                await session.execute(_FIND_OR_ADD_PERSON, {"id": uuid.uuid4(), "idx": index})
            ).scalar_one()
            code = self._code(institution, person_id)
            await session.execute(_ADD_CODE, {"code": code, "inst": institution, "pid": person_id})
        return code

    async def permission_list(self, on: date | None) -> list[Rule]:
        """The list as of `on`, or every version of it (for a gateway's copy)."""
        async with self._sessions() as session, session.begin():
            return await rules_on(session, on)

    async def route_inquiry(
        self,
        *,
        requester: str,
        requester_code: str,
        provider: str,
        clause: str,
        items: tuple[str, ...],
    ) -> RoutedInquiry:
        """Check the inquiry against the permission list, translate the 符号 and issue a
        permit; every decision is kept in the hub's permit log."""
        now = datetime.now(UTC)
        jti = uuid7()
        async with self._sessions() as session, session.begin():
            person_id, version, count = (
                await session.execute(_ROUTE_READ, {"code": requester_code, "inst": requester})
            ).one()
            rules = self._rules.current((version, count))
            if rules is None:
                rules = self._rules.keep((version, count), await rules_on(session, None))
            reason = None
            if person_id is None:
                reason = "the requester's 符号 is not one the hub issued to it"
            elif missing := not_allowed(
                in_force(rules, now.date()),
                requester=requester,
                provider=provider,
                clause=clause,
                items=items,
            ):
                reason = f"not on the permission list: items {', '.join(missing)} under {clause}"
            expires_at = None if reason else now + self._keys.permit_lifetime
            await session.execute(
                _LOG_PERMIT,
                {
                    "jti": jti,
                    "requester": requester,
                    "provider": provider,
                    "clause": clause,
                    "items": list(items),
                    "issued_at": now,
                    "expires_at": expires_at,
                    "refused_reason": reason,
                },
            )
        if reason is not None or person_id is None or expires_at is None:
            raise PermitRefused(reason or "refused")
        provider_code = self._code(provider, person_id)
        permit = Permit(
            jti=jti,
            requester=requester,
            provider=provider,
            provider_code=provider_code,
            clause=clause,
            items=items,
            expires_at=expires_at,
        )
        token = sign_permit(
            permit, key=self._keys.signing_key, key_id=self._keys.signing_key_id, issued_at=now
        )
        return RoutedInquiry(permit=token, provider_code=provider_code, jti=jti)
