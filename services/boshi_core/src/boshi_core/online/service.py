"""The online pregnancy notifications e_application accepted, opened here through the same
function as the window path (`open_pregnancy`, channel online), by batch over e_application's
export, never by database access. Idempotent on the receipt number (the pregnancy's
`external_ref`): a notification pulled twice, or pulled again after boshi_core was down before
confirming, opens one pregnancy."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boshi_core.online.client import EappClient
from boshi_core.pregnancy import repository
from boshi_core.pregnancy.schemas import IdentityCheck, NotificationForm
from boshi_core.pregnancy.service import open_pregnancy
from mch_common.auth.principal import Principal
from mch_common.auth.verifier import service_subject
from mch_common.db import unit_of_work
from mch_common.errors import DomainError

log = logging.getLogger("boshi_core.online")


@dataclass
class PullReport:
    opened: list[str] = field(default_factory=list)  # receipt numbers
    already_open: list[str] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)  # receipt number -> why (retried later)


def _as_printed(serial: str) -> str:
    """A certificate's serial (hex) as X.509 tools print it, in byte pairs with colons between:
    written plainly, its hex digits hold 12 decimal digits in a row that pass the My Number
    check digit in about one serial in 115, and the identity check refuses what looks like a
    My Number in its free text."""
    digits = serial if len(serial) % 2 == 0 else f"0{serial}"
    return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def _misfit(error: ValidationError) -> str:
    """What in the notification did not fit, and why, without the values (personal data): the
    messages name fields, never what they hold (mch_common.inputs)."""
    found = "; ".join(
        f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"]
        for e in error.errors(include_input=False, include_context=False, include_url=False)
    )
    return f"the form does not fit: {found}"


def _form(item: dict[str, Any]) -> NotificationForm:
    fields = set(NotificationForm.model_fields)
    return NotificationForm.model_validate({k: v for k, v in item["form"].items() if k in fields})


async def _open(
    sessions: async_sessionmaker[AsyncSession], principal: Principal, item: dict[str, Any]
) -> bool:
    """True if this call opened the pregnancy, False if it was open already."""
    receipt_no = item["receipt_no"]
    async with unit_of_work(sessions) as session:
        if await repository.by_external_ref(session, receipt_no) is not None:
            return False
        await open_pregnancy(
            session,
            principal=principal,
            channel="online",
            person_no=item["person_no"],
            form=_form(item),
            identity_check=IdentityCheck(
                document_type="jpki_signature",
                checked_by=(
                    f"e_application {item['authority']} #{_as_printed(item['certificate_serial'])}"
                )[:100],
            ),
            external_ref=receipt_no,
            received_at=datetime.fromisoformat(item["accepted_at"]),
        )
    return True


async def pull_online_notifications(
    sessions: async_sessionmaker[AsyncSession],
    eapp: EappClient,
    *,
    tenant: str,
    client_id: str = "boshi_core",
    progress: Callable[[str], None] | None = None,
) -> PullReport:
    """Open a pregnancy for each accepted notification, then confirm it to e_application. A
    crash between the two leaves it in the export: the next pull finds it open and confirms."""
    principal = Principal(
        sub=service_subject(client_id), tenant=tenant, scopes=frozenset(), is_service=True
    )
    report = PullReport()
    while True:
        items = await eapp.accepted(limit=100)
        fresh = [i for i in items if i["receipt_no"] not in report.held]
        if not fresh:
            return report
        for item in fresh:
            receipt_no = item["receipt_no"]
            try:
                opened = await _open(sessions, principal, item)
            except IntegrityError:
                opened = False  # a concurrent pull opened it first (external_ref is unique)
            except (DomainError, ValidationError) as exc:
                reason = exc.detail if isinstance(exc, DomainError) else _misfit(exc)
                report.held[receipt_no] = reason
                log.warning(
                    "online notification held",
                    extra={"fields": {"receipt_no": receipt_no, "reason": reason}},
                )
                continue
            await eapp.confirm(receipt_no)
            (report.opened if opened else report.already_open).append(receipt_no)
            if progress is not None:
                progress(f"{receipt_no}: {'opened' if opened else 'already open'}")
