"""The hub's interface to municipal gateways: 符号 issuance, permits and routing."""

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mch_common.db import on_driver_alone, unit_of_work
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
# An inquiry's decision in one statement (committed by itself, mch_common.db.on_driver_alone):
# the person behind the requester's 符号 and the list's stamp, and the permit log's row, written
# only if the stamp is the one the caller decided by (its rules are cached per process; a moved
# stamp: read them, decide again).
_ROUTE = (
    "WITH code AS (SELECT person_id FROM hub.issued_code"
    " WHERE code = $1 AND institution = $2),"
    " stamp AS (SELECT max(list_version) AS list_version, count(*) AS list_rows"
    " FROM hub.permission_rule),"
    " decision AS (SELECT code.person_id, stamp.list_version, stamp.list_rows,"
    " (stamp.list_version IS NOT DISTINCT FROM CAST($3 AS integer)"
    " AND stamp.list_rows = CAST($4 AS bigint)) AS current"
    " FROM stamp LEFT JOIN code ON true),"
    " logged AS (INSERT INTO hub.issued_permit (jti, requester, provider, clause, items,"
    " issued_at, expires_at, refused_reason) SELECT CAST($5 AS uuid), $2, CAST($6 AS text),"
    " CAST($7 AS text),"
    " CAST($8 AS text[]), CAST($9 AS timestamptz), CASE WHEN person_id IS NULL"
    " OR CAST($11 AS text) IS NOT NULL THEN NULL"
    " ELSE CAST($10 AS timestamptz) END,"
    " CASE WHEN person_id IS NULL THEN CAST($12 AS text)"
    " ELSE CAST($11 AS text) END"
    " FROM decision WHERE current RETURNING jti)"
    " SELECT person_id, list_version, list_rows, current FROM decision"
)


async def _decide(arguments: tuple[Any, ...], driver: Any) -> Any:
    return await driver.fetchrow(_ROUTE, *arguments)


NO_CODE = "the requester's 符号 is not one the hub issued to it"


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
        expires_at = now + self._keys.permit_lifetime
        # One statement decides and logs, atomically, by itself.
        async with unit_of_work(self._sessions) as session:
            while True:
                stamp, rules = self._rules.latest()
                missing = not_allowed(
                    in_force(rules, now.date()),
                    requester=requester,
                    provider=provider,
                    clause=clause,
                    items=items,
                )
                list_refusal = (
                    f"not on the permission list: items {', '.join(missing)} under {clause}"
                    if missing
                    else None
                )
                arguments = (
                    requester_code,
                    requester,
                    stamp[0] if stamp else -1,
                    stamp[1] if stamp else -1,
                    jti,
                    provider,
                    clause,
                    list(items),
                    now,
                    expires_at,
                    list_refusal,
                    NO_CODE,
                )
                decided = await on_driver_alone(session, _ROUTE, partial(_decide, arguments))
                if decided["current"]:
                    break
                self._rules.keep(
                    (decided["list_version"], decided["list_rows"]), await rules_on(session, None)
                )
        person_id = decided["person_id"]
        reason = NO_CODE if person_id is None else list_refusal
        if reason is not None or person_id is None:
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
