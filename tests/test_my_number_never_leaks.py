"""The My Number travels in request bodies to atena and nowhere else.

While the window flow runs across the three services (plus the notification that names the
woman by My Number, and the usual mistakes at a window), this test captures
  (a) every message on every JetStream stream of this session's namespace,
  (b) every log record (caplog at DEBUG, SQLAlchemy and uvicorn's access log included) and every
      line the services' JSON log handler writes (pointed at this test's captured stdout),
  (c) every HTTP response body any service sent, but the one explicit unmasked read,
  (d) every URL any service was asked for, service-to-service calls included,
and finds no synthetic My Number in them, nor any 12-digit run passing the check digit. The
unmasked read is the positive control: the same scanner does find the number there.
"""

import json
import logging
import re
import sys
from dataclasses import dataclass
from typing import Any

import pytest
from nats.js.errors import NotFoundError

from atena.testing import person_body
from boshi_core.testsupport import notification
from mch_common.dates import today_tokyo
from mch_common.events.bus import EventBus
from mch_common.logs import JsonFormatter
from mch_common.mynumber import generate_my_number, my_number_check_digit
from mch_testing.waiting import eventually

from .conftest import (
    KOKURA_KITA,
    READ_MODEL_TIMEOUT_S,
    UNMASKED_READ_MARK,
    FlowResult,
    Stack,
    bearer,
    my_number_findings,
    window_flow,
)

SECOND_BIRTH_DATE = "1996-02-03"


@dataclass(frozen=True)
class StreamMessage:
    stream: str
    seq: int
    subject: str
    text: str


async def namespace_messages(bus: EventBus, namespace: str) -> list[StreamMessage]:
    """Every message still held by every stream of this namespace, read back by sequence."""
    messages: list[StreamMessage] = []
    for info in await bus.streams():
        name = info.config.name
        if not name or not name.startswith(namespace.upper() + "_"):
            continue
        if not info.state.messages:
            continue
        for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
            try:
                msg = await bus.js.get_msg(name, seq)
            except NotFoundError:
                continue
            headers = json.dumps(msg.headers or {}, ensure_ascii=False)
            data = (msg.data or b"").decode()
            messages.append(
                StreamMessage(name, seq, msg.subject or "", f"{msg.subject} {headers} {data}")
            )
    return messages


# What every LogRecord has (times, thread and process ids, source positions): not content.
_RECORD_BOOKKEEPING = frozenset(
    vars(logging.LogRecord("x", logging.INFO, __file__, 1, "", None, None))
) - {"msg", "args"}


# A PDF's embedded font lists its glyphs' widths (`/W [ 1 9 1000 10 [ 333 624 ] ... ]`):
# numbers the font needs, whose runs (`1000 1000 1000`) can read as a grouped My Number. The
# pages' text is compressed, so what the scan can see of a PDF is its metadata and objects.
_FONT_WIDTHS = re.compile(r"/W \[(?:[^\[\]]|\[[^\]]*\])*\]")


def pdf_without_font_widths(body: str) -> str:
    return _FONT_WIDTHS.sub("/W [widths]", body)


def record_text(record: logging.LogRecord) -> str:
    """The message with its arguments, the exception, and every extra attribute (`fields`)."""
    content = {k: v for k, v in vars(record).items() if k not in _RECORD_BOOKKEEPING}
    return f"{logging.Formatter().format(record)}\n{content!r}"


def wrong_check_digit(number: str) -> str:
    return number[:11] + str((my_number_check_digit(number[:11]) + 1) % 10)


async def notify_by_my_number(stack: Stack, flow: FlowResult) -> tuple[str, str]:
    """A second woman, registered by the clerk, notifies at the window by My Number."""
    my_number = generate_my_number()
    registered = await stack.atena.post(
        "/persons",
        json=person_body(my_number=my_number, birth_date=SECOND_BIRTH_DATE),
        headers=bearer(flow.clerk_token),
    )
    assert registered.status_code == 201, registered.text
    person_no: str = registered.json()["person_no"]
    staff = bearer(flow.staff_token)

    async def profile_status() -> int:
        return (await stack.boshi.get(f"/people/{person_no}", headers=staff)).status_code

    await eventually(
        profile_status, lambda s: s == 200, within=READ_MODEL_TIMEOUT_S, what="read model"
    )
    body: dict[str, Any] = notification(
        None,
        birth_date=SECOND_BIRTH_DATE,
        ward=KOKURA_KITA,
        application_date=today_tokyo().isoformat(),
    )
    body["my_number"] = my_number
    opened = await stack.boshi.post("/pregnancies", json=body, headers=staff)
    assert opened.status_code == 201, opened.text
    assert opened.json()["person_no"] == person_no
    return my_number, person_no


async def window_mistakes(stack: Stack, flow: FlowResult) -> list[str]:
    """What a window sees go wrong; no answer may echo the number typed."""
    staff = bearer(flow.staff_token)
    unknown = generate_my_number()
    typo = wrong_check_digit(flow.my_number)
    answers = {
        "unknown": await stack.boshi.post(
            "/people/search-by-my-number", json={"my_number": unknown}, headers=staff
        ),
        "typo": await stack.boshi.post(
            "/people/search-by-my-number", json={"my_number": typo}, headers=staff
        ),
        "too long": await stack.boshi.post(
            "/people/search-by-my-number",
            json={"my_number": f"{flow.my_number}-{flow.my_number}"},
            headers=staff,
        ),
        "in the phone field": await stack.atena.post(
            "/persons",
            json=person_body(phone=flow.my_number),
            headers=bearer(flow.clerk_token),
        ),
        # Staff hold no atena:mynumber:lookup; only the boshi_core client does.
        "staff at atena's lookup": await stack.atena.post(
            "/persons/lookup-by-my-number", json={"my_number": flow.my_number}, headers=staff
        ),
    }
    statuses = {what: response.status_code for what, response in answers.items()}
    assert statuses == {
        "unknown": 404,
        "typo": 422,
        "too long": 422,
        "in the phone field": 422,
        "staff at atena's lookup": 403,
    }, {what: r.text for what, r in answers.items()}
    return [unknown, typo]


async def test_no_my_number_in_events_logs_responses_or_urls(
    stack: Stack,
    bus: EventBus,
    event_namespace: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="uvicorn.access")
    # fontTools (the PDF's font subset) times each step at DEBUG: floats such as
    # 2.6950001483783126e-06, whose 16 digits hold windows that pass the check digit. Not data.
    caplog.set_level(logging.INFO, logger="fontTools")
    # The services' JSON handler writes to the stdout of when they started; for this test it
    # writes to the stdout captured here.
    json_handlers = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and isinstance(h.formatter, JsonFormatter)
    ]
    assert json_handlers, "the services' JSON log handler is not on the root logger"
    previous = [h.setStream(sys.stdout) for h in json_handlers]
    mark = len(stack.recorder.exchanges)
    try:
        # The same flow as test_end_to_end's, by the city-wide MCH staff (kokurakita01 is
        # revoked by the revocation test).
        flow = await window_flow(stack, ward_staff="kosodate01", seed=401099)
        second_number, second_person = await notify_by_my_number(stack, flow)
        mistaken = await window_mistakes(stack, flow)

        # The explicit unmasked read: the My Number officer's single read of the person.
        officer = await stack.token("mynumber01")
        unmasked = await stack.atena.get(
            f"/persons/{flow.person_no}",
            headers={**bearer(officer), "x-correlation-id": UNMASKED_READ_MARK},
        )
        assert unmasked.status_code == 200, unmasked.text
        # Anybody else's single read shows it masked.
        masked = await stack.atena.get(
            f"/persons/{flow.person_no}", headers=bearer(flow.clerk_token)
        )
        assert masked.status_code == 200, masked.text
        assert masked.json()["my_number"] == "********" + flow.my_number[-4:]
        # The person's disclosure export as a PDF: scanned with every other answer.
        pdf = await stack.boshi.get(
            f"/people/{flow.person_no}/disclosure.pdf", headers=bearer(flow.staff_token)
        )
        assert pdf.status_code == 200, pdf.text

        await stack.outboxes_drained()
    finally:
        for handler, stream in zip(json_handlers, previous, strict=True):
            if stream is not None:
                handler.setStream(stream)
    numbers = [flow.my_number, second_number, *mistaken]

    # The positive control: the scanner sees the number where it is meant to be.
    assert unmasked.json()["my_number"] == flow.my_number
    assert my_number_findings(unmasked.text, numbers)

    problems: list[str] = []

    # (a) every message of every stream of this namespace
    messages = await namespace_messages(bus, event_namespace)
    subjects = {m.subject.removeprefix(f"{event_namespace}.") for m in messages}
    assert {
        "atena.person.registered",
        "boshi.pregnancy.opened",
        "boshi.handbook.issued",
        "boshi.prenatal_checkup.recorded",
    } <= subjects, subjects
    assert any(second_person in m.text for m in messages)
    for m in messages:
        if found := my_number_findings(m.text, numbers):
            problems.append(f"event {m.stream}#{m.seq} {m.subject}: {found}")

    # (b) every log record and every line written
    records = caplog.records
    assert any("/people/search-by-my-number" in r.getMessage() for r in records), (
        "uvicorn's access log was not captured"
    )
    for record in records:
        if found := my_number_findings(record_text(record), numbers):
            problems.append(f"log record {record.name}: {found}: {record.getMessage()[:300]}")
    out, err = capfd.readouterr()
    assert '"logger": "uvicorn.access"' in out, "the services' JSON log lines were not captured"
    for line in (out + err).splitlines():
        if found := my_number_findings(line, numbers):
            problems.append(f"log line: {found}: {line[:300]}")
        if "[REDACTED]" in line:
            problems.append(f"the log redaction guard had to act: {line[:300]}")

    # (c) every HTTP response body but the explicit unmasked read, (d) every URL
    exchanges = stack.recorder.exchanges
    assert any(
        e.service == "atena" and e.url == "/persons/lookup-by-my-number" for e in exchanges[mark:]
    ), "boshi_core's call to atena was not recorded"
    assert [e.unmasked_read for e in exchanges].count(True) == 1
    pdfs = 0
    for e in exchanges:
        where = f"{e.service} {e.method} {e.url} -> {e.status}"
        if found := my_number_findings(e.url, numbers):
            problems.append(f"URL {where}: {found}")
        headers = " ".join(f"{k}: {v}" for k, v in e.response_headers)
        if found := my_number_findings(headers, numbers):
            problems.append(f"response headers of {where}: {found}")
        if e.unmasked_read:
            continue
        body = e.body.decode("utf-8", "replace")
        if dict(e.response_headers).get("content-type", "").startswith("application/pdf"):
            body = pdf_without_font_widths(body)
            pdfs += 1
        if found := my_number_findings(body, numbers):
            problems.append(f"response body of {where}: {found}")
    assert pdfs, "no PDF answer was scanned (the disclosure's is expected)"

    # And at rest: boshi_core and identity hold no My Number at all, atena only encrypted.
    for service, skip in (
        ("boshi", frozenset[str]()),
        ("identity", frozenset[str]()),
        ("atena", frozenset({"person_my_number"})),
    ):
        for line in (await stack.text_of_tables(service, skip=skip)).splitlines():
            if found := my_number_findings(line, numbers):
                problems.append(f"{service} database: {found}: {line[:300]}")

    assert not problems, "\n".join(problems[:30])
