"""Refused inquiries: without a permit, with a forged, expired or reused permit, for an item or
clause not on the permission list, about another tenant's person. Each is refused and recorded
on both sides (committed apart from the refused request), and nothing is provided."""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from national_hub.hub import NationalHub, RoutedInquiry
from national_hub.permits import ALGORITHM
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from intermediate_server.config import Settings
from intermediate_server.deps import INQUIRE
from mch_common.audit import read_whole_log
from mch_common.mynumber import generate_my_number

from .conftest import CLAUSE_80, CLAUSE_95, FUKUOKA, KITAKYUSHU, Headers, checkup, register_person


class TamperingHub(NationalHub):
    """The hub's routing, with the permit replaced the way an attacker on the path would."""

    def __init__(self, real: NationalHub, keys: Any, mode: str) -> None:
        super().__init__(sessions=real._sessions, keys=keys)
        self.mode = mode
        self.first: RoutedInquiry | None = None

    async def route_inquiry(self, **inquiry: Any) -> RoutedInquiry:
        genuine = await super().route_inquiry(**inquiry)
        claims = jwt.decode(genuine.permit, options={"verify_signature": False})
        if self.mode == "none":
            return RoutedInquiry(permit="", provider_code=genuine.provider_code, jti=genuine.jti)
        if self.mode == "forged":
            forged = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm=ALGORITHM)
            return RoutedInquiry(
                permit=forged, provider_code=genuine.provider_code, jti=genuine.jti
            )
        if self.mode == "expired":
            past = datetime.now(UTC) - timedelta(minutes=5)
            claims |= {"iat": int(past.timestamp()), "exp": int(past.timestamp()) + 60}
            expired = jwt.encode(claims, self._keys.signing_key, algorithm=ALGORITHM)
            return RoutedInquiry(
                permit=expired, provider_code=genuine.provider_code, jti=genuine.jti
            )
        if self.mode == "other_person":
            claims["sub"] = "A" * 32
            other = jwt.encode(claims, self._keys.signing_key, algorithm=ALGORITHM)
            return RoutedInquiry(permit=other, provider_code=genuine.provider_code, jti=genuine.jti)
        assert self.mode == "reused"
        if self.first is None:
            self.first = genuine
        return self.first


async def records_about(
    sessions: async_sessionmaker[AsyncSession], tenant: str, person_no: str
) -> list[dict[str, Any]]:
    async with sessions() as session:
        await read_whole_log(session)
        rows = await session.execute(
            text(
                "SELECT action, outcome, target_id, detail FROM audit_log "
                "WHERE action LIKE 'provision.%' AND persons @> ARRAY[CAST(:key AS text)] "
                "ORDER BY seq"
            ),
            {"key": f"{tenant}:{person_no}"},
        )
        return [{"action": a, "outcome": o, "inquiry": t, **d} for a, o, t, d in rows]


async def provider_records(
    sessions: async_sessionmaker[AsyncSession], inquiry_id: str
) -> list[dict[str, Any]]:
    async with sessions() as session:
        await read_whole_log(session)
        rows = await session.execute(
            text(
                "SELECT outcome, detail FROM audit_log "
                "WHERE action = 'provision.provide' AND target_id = :id ORDER BY seq"
            ),
            {"id": inquiry_id},
        )
        return [{"outcome": o, **d} for o, d in rows]


async def moved_child(client: httpx.AsyncClient, headers: Headers) -> tuple[str, str]:
    my_number = generate_my_number()
    fukuoka_no = await register_person(client, headers, FUKUOKA, my_number=my_number)
    kitakyushu_no = await register_person(client, headers, KITAKYUSHU, my_number=my_number)
    written = await client.put(
        f"/replica/persons/{fukuoka_no}/checkups",
        json=checkup("ck-1", taken_on=date(2026, 9, 1)),
        headers=headers(tenant=FUKUOKA, sub="boshi_core", service=True),
    )
    assert written.status_code == 200, written.text
    return kitakyushu_no, fukuoka_no


def inquiry(
    person_no: str, *, clause: str = CLAUSE_95, items: tuple[str, ...] = ("95",)
) -> dict[str, Any]:
    return {"person_no": person_no, "provider": FUKUOKA, "clause": clause, "items": list(items)}


async def assert_refused_on_both_sides(
    sessions: async_sessionmaker[AsyncSession],
    answer: httpx.Response,
    person_no: str,
    *,
    status: int,
    reason: str,
    provider_knows_person: bool,
    fukuoka_no: str | None = None,
) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert "records" not in answer.text
    (requester,) = [
        r for r in await records_about(sessions, KITAKYUSHU, person_no) if r["outcome"] != "success"
    ]
    assert requester["action"] == "provision.inquiry"
    assert requester["outcome"] in {"refused", "not_found"}
    assert reason in requester["refused_reason"]
    assert (requester["requester"], requester["provider"]) == (KITAKYUSHU, FUKUOKA)
    (provider,) = await provider_records(sessions, requester["inquiry"])
    assert provider["outcome"] == "refused"
    assert provider["tenant"] == FUKUOKA
    assert reason in provider["refused_reason"]
    if provider_knows_person and fukuoka_no is not None:
        assert await records_about(sessions, FUKUOKA, fukuoka_no) != []


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("none", "the permit is malformed"),
        ("forged", "the permit's signature is not the hub's"),
        ("expired", "the permit has expired"),
        ("other_person", "the permit was issued for another inquiry"),
    ],
)
async def test_an_inquiry_without_a_good_permit_is_refused_and_recorded_on_both_sides(
    app: FastAPI,
    settings: Settings,
    committed_client: httpx.AsyncClient,
    committed_sessions: async_sessionmaker[AsyncSession],
    headers: Headers,
    mode: str,
    reason: str,
) -> None:
    kitakyushu_no, fukuoka_no = await moved_child(committed_client, headers)
    real = NationalHub(sessions=committed_sessions, keys=settings.hub_keys)
    app.state.hub = TamperingHub(real, settings.hub_keys, mode)

    answer = await committed_client.post(
        "/inquiries", json=inquiry(kitakyushu_no), headers=headers(INQUIRE)
    )

    await assert_refused_on_both_sides(
        committed_sessions,
        answer,
        kitakyushu_no,
        status=403,
        reason=reason,
        provider_knows_person=True,
        fukuoka_no=fukuoka_no,
    )


async def test_a_reused_permit_is_refused_and_recorded_on_both_sides(
    app: FastAPI,
    settings: Settings,
    committed_client: httpx.AsyncClient,
    committed_sessions: async_sessionmaker[AsyncSession],
    headers: Headers,
) -> None:
    kitakyushu_no, _ = await moved_child(committed_client, headers)
    real = NationalHub(sessions=committed_sessions, keys=settings.hub_keys)
    app.state.hub = TamperingHub(real, settings.hub_keys, "reused")
    first = await committed_client.post(
        "/inquiries", json=inquiry(kitakyushu_no), headers=headers(INQUIRE)
    )
    assert first.status_code == 201, first.text

    replay = await committed_client.post(
        "/inquiries", json=inquiry(kitakyushu_no), headers=headers(INQUIRE)
    )

    await assert_refused_on_both_sides(
        committed_sessions,
        replay,
        kitakyushu_no,
        status=403,
        reason="the permit has been used already",
        provider_knows_person=True,
    )


@pytest.mark.parametrize(
    ("clause", "items"),
    [(CLAUSE_80, ("95",)), ("主務省令第2条の表1の項", ("95",)), (CLAUSE_95, ("80", "95"))],
)
async def test_an_item_or_clause_not_on_the_list_is_refused_and_recorded_on_both_sides(
    committed_client: httpx.AsyncClient,
    committed_sessions: async_sessionmaker[AsyncSession],
    headers: Headers,
    clause: str,
    items: tuple[str, ...],
) -> None:
    kitakyushu_no, _ = await moved_child(committed_client, headers)

    answer = await committed_client.post(
        "/inquiries",
        json=inquiry(kitakyushu_no, clause=clause, items=items),
        headers=headers(INQUIRE),
    )

    await assert_refused_on_both_sides(
        committed_sessions,
        answer,
        kitakyushu_no,
        status=403,
        reason="not on the permission list",
        provider_knows_person=False,
    )


async def test_an_inquiry_about_another_tenants_person_is_refused_and_recorded_on_both_sides(
    committed_client: httpx.AsyncClient,
    committed_sessions: async_sessionmaker[AsyncSession],
    headers: Headers,
) -> None:
    _, fukuoka_no = await moved_child(committed_client, headers)

    # Kitakyushu names Fukuoka's person number: under its tenant, no such person has a 符号.
    answer = await committed_client.post(
        "/inquiries", json=inquiry(fukuoka_no), headers=headers(INQUIRE)
    )

    await assert_refused_on_both_sides(
        committed_sessions,
        answer,
        fukuoka_no,
        status=404,
        reason="no 符号",
        provider_knows_person=False,
    )
    # Fukuoka's person is not named in Fukuoka's refusal record: the requester's number means
    # nothing there, and nothing was provided.
    assert [
        r["outcome"] for r in await records_about(committed_sessions, FUKUOKA, fukuoka_no)
    ] == []


async def test_the_hub_logs_refused_permits(
    committed_client: httpx.AsyncClient,
    committed_sessions: async_sessionmaker[AsyncSession],
    headers: Headers,
) -> None:
    kitakyushu_no, _ = await moved_child(committed_client, headers)
    marker = str(uuid.uuid4())[:8]
    await committed_client.post(
        "/inquiries",
        json=inquiry(kitakyushu_no, clause=f"not-a-clause-{marker}"),
        headers=headers(INQUIRE),
    )
    async with committed_sessions() as session:
        reason = await session.scalar(
            text("SELECT refused_reason FROM hub.issued_permit WHERE clause = :c"),
            {"c": f"not-a-clause-{marker}"},
        )
    assert reason is not None
    assert "not on the permission list" in reason
