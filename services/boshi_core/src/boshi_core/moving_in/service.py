"""A child under 6 moving in from another municipality: boshi_core asks the previous city,
through the intermediate server, for its checkup records (item 95) and keeps them marked with
their source and date; the checkup extraction counts a checkup done there as done.

(A pregnant woman moving in is not known as pregnant from atena's event: her pregnancy
notification, item 80, is not asked for here.)"""

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boshi_core.moving_in import repository
from boshi_core.moving_in.ims import (
    CHECKUP_ITEM,
    ImsClient,
    ImsNotYet,
    ImsRefused,
    ImsUnavailable,
)
from boshi_core.moving_in.models import PreviousCityRequest
from mch_common.dates import years_old
from mch_common.db import unit_of_work
from mch_common.ids import uuid7
from mch_common.work import UnitOfWork

FETCH_ACTOR = "batch:boshi_core.moving_in"
CHILD_UNDER_YEARS = 6
# A person's 符号 follows atena's registration within seconds; after this many runs without
# one, the request is given up (refused) and stays visible with its reason.
MAX_ATTEMPTS = 30
# The layout's infant checkup kinds, as our programmes.
PROGRAMMES = {"infant_4m": "4m", "infant_7m": "7m", "infant_1y6m": "1y6m", "infant_3y": "3y"}


@dataclass(frozen=True)
class FetchRun:
    done: int = 0
    held: int = 0
    refused: int = 0
    unavailable: int = 0


async def queue_on_move_in(
    session: AsyncSession, *, snapshot: dict[str, Any], event_data: dict[str, Any]
) -> bool:
    """Queue the inquiry for a child under 6 who moved in from another municipality (in the
    consumer's transaction). True when one was queued."""
    source = event_data.get("previous_municipality_code")
    birth = snapshot.get("birth_date")
    moved_in_on = event_data.get("effective_date")
    if not source or not birth or not moved_in_on:
        return False
    moved_in = date.fromisoformat(str(moved_in_on))
    if years_old(date.fromisoformat(str(birth)), moved_in) >= CHILD_UNDER_YEARS:
        return False
    await repository.queue(
        session,
        id=uuid7(),
        person_no=str(snapshot["person_no"]),
        source=str(source),
        moved_in_on=moved_in,
    )
    return True


async def fetch_previous_city_records(
    sessions: async_sessionmaker[AsyncSession], ims: ImsClient, *, limit: int = 50
) -> FetchRun:
    """Send the queued inquiries (and look again at those the provider's staff hold); keep
    what was provided. One transaction per run: a request is claimed, asked, kept, marked."""
    done = held = refused = unavailable = 0
    async with unit_of_work(sessions) as session:
        for request in await repository.claim(session, limit):
            try:
                if request.status == "held" and request.inquiry_id:
                    answer = await ims.inquiry(request.inquiry_id)
                else:
                    answer = await ims.inquire(
                        person_no=request.person_no, provider=request.source_municipality
                    )
            except (ImsUnavailable, ImsNotYet) as exc:
                request.attempts += 1
                request.last_error = str(exc)
                if isinstance(exc, ImsNotYet) and request.attempts >= MAX_ATTEMPTS:
                    _finish(request, "refused", error=str(exc))
                    _record(session, request, outcome="refused", kept=0)
                    refused += 1
                else:
                    unavailable += 1
                continue
            except ImsRefused as exc:
                _finish(request, "refused", error=exc.reason)
                _record(session, request, outcome="refused", kept=0)
                refused += 1
                continue
            kept = await _keep(session, request, answer)
            if answer["answer"][CHECKUP_ITEM]["status"] == "held":
                request.status, request.inquiry_id = "held", str(answer["id"])
                held += 1
            else:
                _finish(request, "done")
                done += 1
            _record(session, request, outcome="success", kept=kept)
    return FetchRun(done=done, held=held, refused=refused, unavailable=unavailable)


def _finish(request: PreviousCityRequest, status: str, *, error: str | None = None) -> None:
    request.status = status
    request.last_error = error
    request.finished_at = datetime.now(UTC)
    request.attempts += 1


async def _keep(session: AsyncSession, request: PreviousCityRequest, answer: dict[str, Any]) -> int:
    item = answer["answer"].get(CHECKUP_ITEM, {})
    if item.get("status") != "provided":
        return 0
    for record in item["records"]:
        data = record["data"]
        taken_on = data.get("taken_on")
        await repository.keep_record(
            session,
            id=uuid7(),
            person_no=request.person_no,
            source=request.source_municipality,
            item_no=CHECKUP_ITEM,
            record_key=record["record_key"],
            as_of=datetime.fromisoformat(record["as_of"]),
            programme_code=PROGRAMMES.get(data.get("checkup_kind", "")),
            taken=bool(data.get("taken")),
            taken_on=date.fromisoformat(taken_on) if taken_on else None,
            data=json.dumps(data, ensure_ascii=False),
        )
    return len(item["records"])


def _record(
    session: AsyncSession, request: PreviousCityRequest, *, outcome: str, kept: int
) -> None:
    UnitOfWork.of(session).record(
        actor=FETCH_ACTOR,
        action="previous_city.fetch",
        outcome=outcome,
        target_type="person",
        target_id=request.person_no,
        purpose="母子保健法 転入者の健診記録 (checkup records of a family moving in)",
        detail={"source": request.source_municipality, "records": kept, "status": request.status},
    )
