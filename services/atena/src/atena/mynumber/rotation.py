"""Key rotation of the stored My Numbers: after a key change, every row still sealed under an
old encryption key, or indexed under an old blind index key, is rewritten under the current
ones.

The run goes in batches, each its own short transaction that locks only its rows (`FOR UPDATE
SKIP LOCKED`, keyset paging by person number), so the service keeps serving. It is resumable
by construction: what is left to do is exactly the rows not yet under the current keys, so a
killed run is simply started again. While it re-keys the index, the service holds the
previous index key too and matches either index, so no lookup misses (see the README).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atena.persons.models import PersonMyNumber
from mch_common.db import unit_of_work
from mch_common.mynumber import EncryptedMyNumber, MyNumberVault

_T = PersonMyNumber
# Rows not under the current keys; NULL index key ids predate the column and count as old.
_STALE = or_(
    _T.key_id != bindparam("key_id"),
    _T.index_key_id.is_distinct_from(bindparam("index_key_id")),
)
_COUNT_STALE = select(func.count()).select_from(_T).where(_STALE)
_NEXT_BATCH = (
    select(_T.person_no, _T.key_id, _T.ciphertext)
    .where(_STALE, _T.person_no > bindparam("after"))
    .order_by(_T.person_no)
    .limit(bindparam("size"))
)
_NEXT_BATCH_SKIP_LOCKED = _NEXT_BATCH.with_for_update(skip_locked=True)
_NEXT_BATCH_WAITING = _NEXT_BATCH.with_for_update()
_REWRITE = update(_T)  # executed with one parameter dict per row: UPDATE by primary key


@dataclass(frozen=True)
class RotationProgress:
    """Rows rewritten so far by this run, of the rows under old keys when it started."""

    done: int
    total: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


def _keys(vault: MyNumberVault) -> dict[str, str]:
    return {"key_id": vault.current_key_id, "index_key_id": vault.index_key_id}


async def count_rows_under_old_keys(
    sessions: async_sessionmaker[AsyncSession], vault: MyNumberVault
) -> int:
    async with sessions() as session:
        return int((await session.execute(_COUNT_STALE, _keys(vault))).scalar_one())


async def _rewrite_batch(
    sessions: async_sessionmaker[AsyncSession],
    vault: MyNumberVault,
    *,
    after: str,
    size: int,
    skip_locked: bool,
) -> tuple[str, int] | None:
    """Rewrites the next batch after person number `after` in one transaction; returns the
    batch's last person number and its size, None when no row is left after `after`."""
    statement = _NEXT_BATCH_SKIP_LOCKED if skip_locked else _NEXT_BATCH_WAITING
    params = {**_keys(vault), "after": after, "size": size}
    async with unit_of_work(sessions) as session:
        rows = (await session.execute(statement, params)).all()
        if not rows:
            return None
        rewritten = []
        for person_no, key_id, ciphertext in rows:
            aad = person_no.encode()
            sealed = EncryptedMyNumber(key_id, ciphertext)
            number = vault.decrypt(sealed, aad=aad)
            if vault.needs_rotation(sealed):
                sealed = vault.encrypt(number, aad=aad)
            rewritten.append(
                {
                    "person_no": person_no,
                    "key_id": sealed.key_id,
                    "ciphertext": sealed.ciphertext,
                    "blind_index": vault.blind_index(number),
                    "index_key_id": vault.index_key_id,
                }
            )
        await session.execute(_REWRITE, rewritten)
        return str(rows[-1].person_no), len(rows)


async def rotate_my_numbers(
    sessions: async_sessionmaker[AsyncSession],
    vault: MyNumberVault,
    *,
    batch_size: int = 500,
    progress: Callable[[RotationProgress], None] | None = None,
) -> RotationProgress:
    """Rewrites every row under an old key (encryption or blind index) under the vault's
    current keys, batch by batch, calling `progress` after each batch; returns when no row is
    left under an old key. The vault must hold every old encryption key still in use."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started = time.monotonic()
    total = await count_rows_under_old_keys(sessions, vault)
    done = 0
    remaining = total
    skip_locked = True
    while remaining:
        # One pass over the table. Rows a request holds locked are skipped and left to the
        # next pass, which waits for their locks if skipping got nowhere.
        done_before_pass = done
        after = ""
        while batch := await _rewrite_batch(
            sessions, vault, after=after, size=batch_size, skip_locked=skip_locked
        ):
            after, rows = batch
            done += rows
            if progress is not None:
                progress(RotationProgress(done, total, time.monotonic() - started))
        remaining = await count_rows_under_old_keys(sessions, vault)
        skip_locked = done > done_before_pass
    return RotationProgress(done, total, time.monotonic() - started)
