"""The job that obtains 符号: persons whose My Number has no 符号 yet (or a newer My Number
than the one it was obtained for), in batches; their My Numbers are decrypted here and cross
to the intermediate server once, in the request body of `POST /codes`."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mch_common.db import unit_of_work
from mch_common.mynumber import EncryptedMyNumber, MyNumberVault
from mch_common.work import UnitOfWork

NETWORK_CODES = "atena.network_codes"  # the job (mch_common.jobs), woken by registrations
ACTOR = f"batch:{NETWORK_CODES}"
_PENDING = text(
    "SELECT m.person_no, m.key_id, m.ciphertext, m.registered_at FROM person_my_number m "
    "LEFT JOIN network_code n ON n.person_no = m.person_no "
    "WHERE n.person_no IS NULL OR n.status <> 'obtained' OR n.for_registered_at < m.registered_at "
    "ORDER BY m.person_no LIMIT :limit FOR UPDATE OF m SKIP LOCKED"
)
_MARK = text(
    "INSERT INTO network_code (person_no, for_registered_at, obtained_at, attempts, last_error, "
    "updated_at, status) SELECT p, r, :now, 1, NULL, :now, 'obtained' "
    "FROM unnest(CAST(:people AS text[]), CAST(:registered AS timestamptz[])) AS t(p, r) "
    "ON CONFLICT (person_no) DO UPDATE SET for_registered_at = excluded.for_registered_at, "
    "obtained_at = excluded.obtained_at, attempts = network_code.attempts + 1, "
    "last_error = NULL, updated_at = excluded.updated_at, status = 'obtained'"
)
_MARK_FAILED = text(
    "INSERT INTO network_code (person_no, attempts, last_error, updated_at, status) "
    "SELECT p, 1, :error, :now, 'failed' FROM unnest(CAST(:people AS text[])) AS t(p) "
    "ON CONFLICT (person_no) DO UPDATE SET attempts = network_code.attempts + 1, "
    "last_error = excluded.last_error, updated_at = excluded.updated_at, "
    "status = CASE WHEN network_code.status = 'obtained' THEN 'obtained' ELSE 'failed' END"
)


@dataclass(frozen=True)
class CodesRun:
    obtained: int
    failed: int


async def obtain_network_codes(
    sessions: async_sessionmaker[AsyncSession],
    vault: MyNumberVault,
    ims: httpx.AsyncClient,
    *,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> CodesRun:
    """Until no person is left or the gateway fails; `progress` gets the running count."""
    obtained = failed = 0
    while True:
        async with unit_of_work(sessions) as session:
            rows = (await session.execute(_PENDING, {"limit": batch_size})).all()
            if not rows:
                break
            people = [r.person_no for r in rows]
            now = datetime.now(UTC)
            body = {
                "people": [
                    {
                        "person_no": r.person_no,
                        "my_number": vault.decrypt(
                            EncryptedMyNumber(r.key_id, r.ciphertext), aad=r.person_no.encode()
                        ),
                    }
                    for r in rows
                ]
            }
            error = await _send(ims, body)
            work = UnitOfWork.of(session)
            if error is None:
                await session.execute(
                    _MARK,
                    {"now": now, "people": people, "registered": [r.registered_at for r in rows]},
                )
                obtained += len(rows)
            else:
                await session.execute(_MARK_FAILED, {"now": now, "people": people, "error": error})
                failed += len(rows)
            work.record(
                actor=ACTOR,
                action="mynumber.network_code",
                outcome="success" if error is None else "failure",
                target_type="person",
                purpose="符号取得 (the network code of each person with a My Number)",
                detail={"count": len(rows), "error": error},
                persons=people,
            )
        if progress is not None:
            progress(obtained + failed)
        if error is not None or len(rows) < batch_size:
            break
    return CodesRun(obtained=obtained, failed=failed)


async def _send(ims: httpx.AsyncClient, body: dict[str, Any]) -> str | None:
    """None when the gateway took them; else why not (never the body)."""
    try:
        response = await ims.post("/codes", json=body)
    except httpx.HTTPError as exc:
        return f"the intermediate server is unreachable ({type(exc).__name__})"
    if response.status_code != 200:
        return f"the intermediate server answered HTTP {response.status_code}"
    return None
