"""Safe retries on the immunization bridge (mch_common.idempotency): an import whose answer was
lost, sent again with its Idempotency-Key, gets the first report (not "already imported") and
imports the file once."""

import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from immunization_bridge.records.models import ImportFile, VaccinationRecord

from .conftest import Headers, csv_file


async def test_a_lost_import_answer_retried_gives_the_first_report(
    client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
) -> None:
    body = csv_file("R0001,A,1000000008,bcg,1,2026-06-01,,")
    url = "/imports?filename=register-20261202.csv"
    retry = {**headers(), "Content-Type": "text/csv", "Idempotency-Key": str(uuid.uuid4())}
    first = await client.post(url, content=body, headers=retry)
    assert first.status_code == 200, first.text
    assert first.json()["already_imported"] is False
    again = await client.post(url, content=body, headers=retry)
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotency-replayed"] == "true"
    files = await db_session.scalar(select(func.count()).select_from(ImportFile))
    kept = await db_session.scalar(select(func.count()).select_from(VaccinationRecord))
    assert (files, kept) == (1, 1)
    # Another file under the same key is another request: refused, nothing imported.
    other = csv_file("R0002,A,1000000008,bcg,1,2026-06-01,,")
    refused = await client.post(url, content=other, headers=retry)
    assert refused.status_code == 422
    assert await db_session.scalar(select(func.count()).select_from(ImportFile)) == 1
