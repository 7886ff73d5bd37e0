"""The requester's side of an exchange (情報照会): a business system asks for items about one
of its people; the gateway takes the person's 符号, gets a permit from the hub, which routes
the inquiry to the provider, and keeps the answer. Refusals are recorded on both sides."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from national_hub.hub import NationalHub, PermitRefused
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from intermediate_server.codes.cipher import CodeCipher
from intermediate_server.exchange import repository
from intermediate_server.exchange.models import Inquiry
from intermediate_server.exchange.provider import HELD, SUSPENDED, Provider, RoutedInquiry
from intermediate_server.records.service import (
    INQUIRY,
    ProvisionFacts,
    persons_of,
    record_detail,
    write_record,
)
from intermediate_server.replica.layout import ITEMS
from intermediate_server.tenancy import enter_tenant
from mch_common.auth.principal import Principal
from mch_common.db import new_row
from mch_common.errors import DomainError, Forbidden, InvalidInput, NotFound
from mch_common.ids import uuid7
from mch_common.refusals import refusal
from mch_common.work import UnitOfWork

NO_CODE = "the person has no 符号 in the requesting municipality"
NO_INQUIRY = "no such inquiry"


def sessions_of(session: AsyncSession) -> async_sessionmaker[AsyncSession]:
    sessions = UnitOfWork.of(session).sessions
    if sessions is None:
        raise RuntimeError("the exchange needs the unit of work's session factory")
    return sessions


async def inquire(
    session: AsyncSession,
    *,
    principal: Principal,
    hub: NationalHub,
    provider: Provider,
    cipher: CodeCipher,
    person_no: str,
    provider_code: str,
    clause: str,
    items: tuple[str, ...],
    purpose: str | None,
) -> Inquiry:
    requester = principal.tenant
    unknown = [i for i in items if i not in ITEMS]
    if unknown or len(set(items)) != len(items):
        raise InvalidInput("items must be distinct items of the replica (80, 95)")
    provider_known, sealed_code = await repository.provider_and_code(
        session, provider=provider_code, person_no=person_no
    )
    if not provider_known:
        raise InvalidInput("the provider is not a municipality on the network")
    asked_at = datetime.now(UTC)
    inquiry_id = uuid7()
    routed = RoutedInquiry(
        inquiry_id=inquiry_id,
        requester=requester,
        provider=provider_code,
        clause=clause,
        items=items,
        asked_at=asked_at,
        permit="",
        provider_code="",
    )
    facts = ProvisionFacts(
        inquiry_id=str(inquiry_id),
        requester=requester,
        provider=provider_code,
        clause=clause,
        items=items,
        asked_at=asked_at,
    )

    async def refuse(error: DomainError, reason: str, *, provider_knows: bool) -> DomainError:
        if not provider_knows:
            await provider.record_refused_before_routing(routed, reason=reason)
            await enter_tenant(session, requester)
        refused = replace(facts, answered_at=datetime.now(UTC), refused_reason=reason)
        return refusal(
            session,
            error,
            principal,
            action=INQUIRY,
            target_type="inquiry",
            target_id=str(inquiry_id),
            purpose=purpose or clause,
            persons=persons_of(requester, person_no),
            detail=record_detail(side="requester", tenant=requester, facts=refused),
        )

    if sealed_code is None:
        raise await refuse(NotFound(NO_CODE), NO_CODE, provider_knows=False)
    code = cipher.decrypt(sealed_code, tenant=requester, person_no=person_no)
    try:
        permitted = await hub.route_inquiry(
            requester=requester,
            requester_code=code,
            provider=provider_code,
            clause=clause,
            items=items,
        )
    except PermitRefused as refused:
        raise await refuse(
            Forbidden(refused.reason), refused.reason, provider_knows=False
        ) from None

    answer = await provider.provide(
        replace(routed, permit=permitted.permit, provider_code=permitted.provider_code)
    )
    if shares_connection(session):
        await enter_tenant(session, requester)
    if answer.refused_reason is not None:
        reason = f"the provider refused: {answer.refused_reason}"
        raise await refuse(Forbidden(reason), reason, provider_knows=True)

    answered_at = datetime.now(UTC)
    inquiry = new_row(
        Inquiry,
        id=inquiry_id,
        tenant=requester,
        person_no=person_no,
        provider=provider_code,
        clause=clause,
        items=list(items),
        status=inquiry_status(answer.items),
        asked_by=principal.sub,
        asked_at=asked_at,
        answered_at=answered_at,
        answer=answer.items,
    )
    work = UnitOfWork.of(session)
    work.insert(inquiry)  # written with its record, in the unit of work's one statement
    write_record(
        work,
        side="requester",
        tenant=requester,
        person_no=person_no,
        actor=principal.sub,
        terminal=principal.terminal,
        purpose=purpose,
        facts=replace(
            facts,
            answered_at=answered_at,
            provided=_items_with(answer.items, "provided"),
            held=_items_with(answer.items, HELD),
            not_held=_items_with(answer.items, "not_held"),
            suspended=_items_with(answer.items, SUSPENDED),
        ),
    )
    return inquiry


def shares_connection(session: AsyncSession) -> bool:
    """A session factory bound to one connection (a test's rolled-back transaction) ran the
    hub's and the provider's transactions on this one as savepoints, which left the provider's
    tenant set: the requester's is set again. On an engine each had its own connection."""
    return isinstance(session.bind, AsyncConnection)


def inquiry_status(answer: dict[str, dict[str, Any]]) -> str:
    return "partly_held" if any(a["status"] == HELD for a in answer.values()) else "answered"


def _items_with(answer: dict[str, dict[str, Any]], status: str) -> tuple[str, ...]:
    return tuple(item for item, a in answer.items() if a["status"] == status)


async def get_inquiry(
    session: AsyncSession, *, principal: Principal, inquiry_id: uuid.UUID
) -> Inquiry:
    inquiry = await session.get(Inquiry, inquiry_id)  # another tenant's: not visible (RLS)
    if inquiry is None:
        raise NotFound(NO_INQUIRY)
    UnitOfWork.of(session).record_access(
        principal,
        action="inquiry.read",
        target_type="inquiry",
        target_id=str(inquiry_id),
        detail={"tenant": principal.tenant},
        persons=persons_of(principal.tenant, inquiry.person_no),
    )
    return inquiry
