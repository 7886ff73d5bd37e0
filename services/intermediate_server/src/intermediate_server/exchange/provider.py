"""The provider's side of an exchange (情報提供): the gateway of the municipality the hub routed
an inquiry to checks the permit (signature, expiry, provider, 符号, single use) and its own
copy of the permission list again, then answers from its replica, holding 自動応答不可 items
for its staff. Every outcome, refusals included, leaves the provider's provision record."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from national_hub.permission_list import RuleCache, in_force, not_allowed
from national_hub.permits import InvalidPermit, verify_permit
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from intermediate_server.codes.cipher import CodeCipher
from intermediate_server.codes.service import person_of
from intermediate_server.exchange import repository
from intermediate_server.exchange.models import HeldProvision
from intermediate_server.records.service import ProvisionFacts, write_record
from intermediate_server.replica.repository import ReplicaRecord
from intermediate_server.suspensions.service import SUSPENDED_REASON
from intermediate_server.tenancy import tenant_transaction
from mch_common.db import insert_new
from mch_common.ids import uuid7
from mch_common.work import UnitOfWork

PROVIDED, NOT_HELD, HELD, REFUSED = "provided", "not_held", "held", "refused"
SUSPENDED = "suspended"  # the person's provision suspended (利用停止): nothing is provided


@dataclass(frozen=True)
class RoutedInquiry:
    """What reaches the provider through the hub: the permit, the provider's 符号, and the
    envelope's facts (trusted only as far as the permit confirms them)."""

    inquiry_id: uuid.UUID
    requester: str
    provider: str
    clause: str
    items: tuple[str, ...]
    asked_at: datetime
    permit: str
    provider_code: str


@dataclass(frozen=True)
class ProviderAnswer:
    refused_reason: str | None = None
    # item_no -> {"status": provided|not_held|held|suspended, "records": [...]}
    items: dict[str, dict[str, Any]] = field(default_factory=dict)


def records_of(entries: Sequence[ReplicaRecord], item_no: str) -> list[dict[str, Any]]:
    return [
        {"record_key": e.record_key, "as_of": e.as_of.isoformat(), "data": e.data}
        for e in entries
        if e.item_no == item_no
    ]


class Provider:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        hub_key: Ed25519PublicKey,
        cipher: CodeCipher,
        approval_window: timedelta,
    ) -> None:
        self._sessions = sessions
        self._hub_key = hub_key
        self._cipher = cipher
        self._approval_window = approval_window
        self._rules = RuleCache()  # the gateway's copy of the list, kept by its stamp

    async def provide(self, routed: RoutedInquiry) -> ProviderAnswer:
        async with tenant_transaction(self._sessions, routed.provider) as session:
            return await self._provide(session, routed)

    async def _provide(self, session: AsyncSession, routed: RoutedInquiry) -> ProviderAnswer:
        now = datetime.now(UTC)
        work = UnitOfWork.of(session)
        facts = ProvisionFacts(
            inquiry_id=str(routed.inquiry_id),
            requester=routed.requester,
            provider=routed.provider,
            clause=routed.clause,
            items=routed.items,
            asked_at=routed.asked_at,
            answered_at=now,
        )
        code_index = self._cipher.index(routed.provider_code, tenant=routed.provider)
        provision: repository.ProvisionRead | None = None
        try:
            permit = verify_permit(routed.permit, key=self._hub_key, provider=routed.provider)
            if (permit.requester, permit.clause, permit.items, permit.provider_code) != (
                routed.requester,
                routed.clause,
                routed.items,
                routed.provider_code,
            ):
                raise InvalidPermit("the permit was issued for another inquiry")
            # One statement: the permit's use, the person, the list copy's stamp, a suspension
            # and the replica's entries (read before the list is checked, used only if it
            # allows).
            provision = await repository.use_permit_and_read(
                session,
                jti=permit.jti,
                tenant=routed.provider,
                now=now,
                expires_at=permit.expires_at,
                code_index=code_index,
                items=routed.items,
            )
            if not provision.permit_fresh:
                raise InvalidPermit("the permit has been used already")
            rules = self._rules.current(provision.list_stamp)
            if rules is None:
                rules = self._rules.keep(provision.list_stamp, await repository.all_rules(session))
            if missing := not_allowed(
                in_force(rules, now.date()),
                requester=permit.requester,
                provider=permit.provider,
                clause=permit.clause,
                items=permit.items,
            ):
                raise InvalidPermit(
                    f"not on the provider's permission list: items {', '.join(missing)}"
                )
        except InvalidPermit as refused:
            person_no = (
                provision.person_no
                if provision is not None
                else await person_of(
                    session, cipher=self._cipher, tenant=routed.provider, code=routed.provider_code
                )
            )
            write_record(
                work,
                side="provider",
                tenant=routed.provider,
                person_no=person_no,
                actor=f"municipality:{routed.requester}",
                terminal=None,
                facts=_with(facts, refused_reason=refused.reason),
            )
            return ProviderAnswer(refused_reason=refused.reason)

        person_no = provision.person_no
        # A suspension of provision (boshi_core's decision) answers every item as suspended.
        suspended = person_no is not None and provision.suspended
        entries = [] if suspended else provision.entries
        answer: dict[str, dict[str, Any]] = {}
        held: list[str] = []
        for item in routed.items:
            of_item = [e for e in entries if e.item_no == item]
            if suspended:
                answer[item] = {"status": SUSPENDED, "records": [], "reason": SUSPENDED_REASON}
            elif not of_item:
                answer[item] = {"status": NOT_HELD, "records": []}
            elif any(e.no_auto_response for e in of_item):
                held.append(item)
                answer[item] = {"status": HELD, "records": []}
            else:
                answer[item] = {"status": PROVIDED, "records": records_of(of_item, item)}
        if held and person_no is not None:
            await insert_new(
                session,
                HeldProvision(
                    id=uuid7(),
                    tenant=routed.provider,
                    person_no=person_no,
                    requester=routed.requester,
                    inquiry_id=routed.inquiry_id,
                    clause=routed.clause,
                    items=held,
                    held_at=now,
                    deadline=now + self._approval_window,
                    status=HELD,
                    decided_at=None,
                    decided_by=None,
                ),
            )
        write_record(
            work,
            side="provider",
            tenant=routed.provider,
            person_no=person_no,
            actor=f"municipality:{routed.requester}",
            terminal=None,
            facts=_with(
                facts,
                provided=tuple(i for i, a in answer.items() if a["status"] == PROVIDED),
                held=tuple(held),
                not_held=tuple(i for i, a in answer.items() if a["status"] == NOT_HELD),
                suspended=tuple(i for i, a in answer.items() if a["status"] == SUSPENDED),
            ),
        )
        return ProviderAnswer(items=answer)

    async def record_refused_before_routing(self, routed: RoutedInquiry, *, reason: str) -> None:
        """The provider's record of an inquiry naming it that the requester's gateway or the
        hub refused before it was routed (the hub notifies the provider)."""
        async with tenant_transaction(self._sessions, routed.provider) as session:
            write_record(
                UnitOfWork.of(session),
                side="provider",
                tenant=routed.provider,
                person_no=None,
                actor=f"municipality:{routed.requester}",
                terminal=None,
                facts=ProvisionFacts(
                    inquiry_id=str(routed.inquiry_id),
                    requester=routed.requester,
                    provider=routed.provider,
                    clause=routed.clause,
                    items=routed.items,
                    asked_at=routed.asked_at,
                    answered_at=datetime.now(UTC),
                    refused_reason=reason,
                ),
            )


def _with(facts: ProvisionFacts, **changes: Any) -> ProvisionFacts:
    from dataclasses import replace

    return replace(facts, **changes)
