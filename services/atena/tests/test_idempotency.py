"""Safe retries on atena (mch_common.idempotency): a registration whose answer was lost, sent
again with its Idempotency-Key, gets the same answer and registers one person, one event."""

import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from atena.testing import Headers, person_body
from mch_common.mynumber import generate_my_number


async def test_a_lost_registration_answer_retried_registers_one_person(
    client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
) -> None:
    my_number = generate_my_number()
    body = person_body(my_number=my_number)
    retry = {**headers(), "Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/persons", json=body, headers=retry)
    assert first.status_code == 201, first.text
    again = await client.post("/persons", json=body, headers=retry)
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotency-replayed"] == "true"
    person_no = first.json()["person_no"]
    registered = await db_session.scalar(
        text(
            "SELECT count(*) FROM outbox WHERE envelope->>'type' = 'atena.person.registered'"
            " AND envelope->>'data' LIKE :given"
        ),
        {"given": f'%"given_name": "{body["given_name"]}"%'},
    )
    assert registered == 1
    # The kept answer is the masked one this caller saw; the My Number itself is not kept.
    assert my_number not in first.text
    kept = (await db_session.execute(text("SELECT body FROM idempotency_keys"))).scalars().all()
    assert kept
    assert not any(my_number.encode() in row for row in kept if row is not None)
    # Another body with the same key: refused, nobody registered.
    other = await client.post("/persons", json=person_body(), headers=retry)
    assert other.status_code == 422
    assert (await client.get(f"/persons/{person_no}", headers=headers())).status_code == 200
