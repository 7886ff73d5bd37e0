"""The result notice by e-mail over SMTP: the receipt number and the outcome, never the My
Number nor the form's contents. Notices are rows written with the decision; the sender claims
pending ones (FOR UPDATE SKIP LOCKED), sends, and marks them sent in the same transaction, so a
crash before the commit sends again rather than never (at least once, as the events)."""

import asyncio
import logging
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from e_application.notices.models import ResultNotice

NOTICES = "e_application.notices"  # the sending job (mch_common.jobs), woken by decisions
log = logging.getLogger(NOTICES)
MAX_ATTEMPTS = 5
_OUTCOMES = {
    "accepted": ("受理", "申請は受理されました。"),
    "returned": (
        "返戻（補正のお願い）",
        "申請は返戻されました。マイナンバーカードでログインし、理由をご確認のうえ補正してください。",
    ),
}
_PENDING = (
    select(ResultNotice)
    .where(ResultNotice.status == "pending")
    .order_by(ResultNotice.created_at)
    .limit(50)
    .with_for_update(skip_locked=True)
)


def notice_message(notice: ResultNotice, *, sender: str) -> EmailMessage:
    title, body = _OUTCOMES[notice.outcome]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = notice.to_address or ""
    message["Subject"] = f"【北九州市電子申請】申請の結果（受付番号 {notice.receipt_no}）: {title}"
    message.set_content(
        f"受付番号: {notice.receipt_no}\n結果: {title}\n\n{body}\n\n"
        "このメールは送信専用です。内容は電子申請サービスでご確認ください。\n"
    )
    return message


def _send(host: str, port: int, message: EmailMessage) -> None:
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        smtp.send_message(message)


async def send_pending(
    sessions: async_sessionmaker[AsyncSession], *, host: str, port: int, sender: str
) -> int:
    """Send what is pending; answers how many were sent."""
    sent = 0
    async with sessions() as session, session.begin():
        for notice in (await session.execute(_PENDING)).scalars():
            if not notice.to_address:
                notice.status = "failed"
                continue
            try:
                await asyncio.to_thread(_send, host, port, notice_message(notice, sender=sender))
            except (OSError, smtplib.SMTPException) as exc:
                notice.attempts += 1
                notice.status = "failed" if notice.attempts >= MAX_ATTEMPTS else "pending"
                log.warning(
                    "result notice not sent", extra={"fields": {"error": type(exc).__name__}}
                )
                continue
            notice.status, notice.sent_at = "sent", datetime.now(UTC)
            sent += 1
    return sent
