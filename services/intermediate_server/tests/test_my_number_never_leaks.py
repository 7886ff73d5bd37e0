"""The My Number crosses the gateway once, in `POST /codes`'s body: it is in no answer, no log
line, no table of the gateway or the hub, no event, and a URL holding one is refused unread."""

import logging

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from intermediate_server.deps import CODE_WRITE, INQUIRE, RECORDS_READ
from mch_common.audit import read_whole_log
from mch_common.mynumber import generate_my_number

from .conftest import CLAUSE_95, FUKUOKA, KITAKYUSHU, Headers


async def test_the_my_number_is_in_no_answer_log_or_table(
    client: httpx.AsyncClient,
    headers: Headers,
    db_session: AsyncSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    number = generate_my_number()
    atena = {
        tenant: headers(CODE_WRITE, tenant=tenant, sub="atena", service=True)
        for tenant in (KITAKYUSHU, FUKUOKA)
    }
    answers = [
        await client.post(
            "/codes",
            json={"people": [{"person_no": "4010000019", "my_number": number}]},
            headers=atena[KITAKYUSHU],
        ),
        await client.post(
            "/codes",
            json={"people": [{"person_no": "4013000019", "my_number": number}]},
            headers=atena[FUKUOKA],
        ),
        # A bad person number beside a good My Number: 422 naming the field, not the values.
        await client.post(
            "/codes",
            json={"people": [{"person_no": "x", "my_number": number}]},
            headers=atena[KITAKYUSHU],
        ),
        # A My Number where a person number belongs.
        await client.post(
            "/inquiries",
            json={"person_no": number, "provider": FUKUOKA, "clause": CLAUSE_95, "items": ["95"]},
            headers=headers(INQUIRE),
        ),
        await client.get(f"/records/persons/{number}", headers=headers(RECORDS_READ)),
        await client.post(
            "/inquiries",
            json={
                "person_no": "4010000019",
                "provider": FUKUOKA,
                "clause": CLAUSE_95,
                "items": ["95"],
            },
            headers=headers(INQUIRE),
        ),
    ]

    assert [a.status_code for a in answers] == [200, 200, 422, 422, 422, 201]
    for answer in answers:
        assert number not in answer.text
        assert number not in str(answer.headers)
    # The service's log lines (not the test client's own: httpx logs the URL it was given).
    logged = "\n".join(
        r.getMessage() + str(getattr(r, "fields", ""))
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore"))
    )
    assert number not in logged
    await read_whole_log(db_session)  # every tenant's records
    dump = await db_session.scalar(
        text(
            "SELECT string_agg(t, ' ') FROM ("
            " SELECT row_to_json(x)::text AS t FROM audit_log x"
            " UNION ALL SELECT row_to_json(x)::text FROM outbox x"
            " UNION ALL SELECT row_to_json(x)::text FROM hub.person x"
            " UNION ALL SELECT row_to_json(x)::text FROM hub.issued_code x"
            " UNION ALL SELECT row_to_json(x)::text FROM hub.issued_permit x) AS rows"
        )
    )
    assert dump is not None
    assert number not in dump
