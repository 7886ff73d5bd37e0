"""Safe retries on boshi_core (mch_common.idempotency): a pregnancy notification whose answer
was lost, sent again with its Idempotency-Key, gets the same 201 and opens one pregnancy, where
a plain retry is told 409 and cannot tell whether its own request did it."""

import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.pregnancy.models import Pregnancy
from boshi_core.testsupport import Auth, Register, notification
from mch_common.events.tables import OutboxEvent

MOTHER = "1000000010"


async def test_a_lost_notification_answer_retried_opens_one_pregnancy(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    await register(MOTHER)
    body = notification()
    retry = {**auth(), "Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/pregnancies", json=body, headers=retry)
    assert first.status_code == 201, first.text
    again = await client.post("/pregnancies", json=body, headers=retry)
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotency-replayed"] == "true"
    pregnancies = await db_session.scalar(select(func.count()).select_from(Pregnancy))
    opened = await db_session.scalar(
        select(func.count())
        .select_from(OutboxEvent)
        .where(OutboxEvent.subject == "boshi.pregnancy.opened")
    )
    assert (pregnancies, opened) == (1, 1)
    # Without the key, the same retry is a second notification, refused as one.
    plain = await client.post("/pregnancies", json=body, headers=auth())
    assert plain.status_code == 409
