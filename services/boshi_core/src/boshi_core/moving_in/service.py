"""Families moving in from another municipality: boshi_core asks the previous city, through
the intermediate server, and keeps what it provides marked with its source and date.

- A child under 6: the checkup records (item 95); the checkup extraction counts a checkup
  done there as done.
- A woman of childbearing age (15 to 49 on the move-in date): the pregnancy notification
  information (item 80), shown with her pregnancies. atena's event does not say she is
  pregnant, and nothing else does before she comes to the window, so every woman of that age
  is asked about; the previous city answers "not held" for one without a notification. The
  age range keeps the inquiries (each recorded on both sides, and shown to her in
  マイナポータル) to those who can be pregnant, rather than every woman moving in; the
  inquiry asks for item 80 alone, never the checkups of an adult, and the layout of item 80
  carries only the notification's dates and counts (intermediate_server's replica)."""

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boshi_core.moving_in import repository
from boshi_core.moving_in.ims import (
    CHECKUP_ITEM,
    PREGNANCY_ITEM,
    ImsClient,
    ImsNotYet,
    ImsRefused,
    ImsUnavailable,
)
from boshi_core.moving_in.models import PreviousCityRequest
from mch_common.dates import years_old
from mch_common.db import unit_of_work
from mch_common.ids import uuid7
from mch_common.jobs import wake_after_commit
from mch_common.work import UnitOfWork

FETCH_ACTOR = "batch:boshi_core.moving_in"
PREVIOUS_CITY = "boshi_core.previous_city"  # the job that sends them (mch_common.jobs)
CHILD_UNDER_YEARS = 6
# Childbearing age as the vital statistics count it (人口動態統計: 15 to 49, the range of
# the total fertility rate).
WOMAN_FROM_YEARS, WOMAN_UNDER_YEARS = 15, 50
PURPOSES = {
    CHECKUP_ITEM: "母子保健法 転入者の健診記録 (checkup records of a family moving in)",
    PREGNANCY_ITEM: (
        "母子保健法 転入者の妊娠の届出情報 (pregnancy notification of a woman moving in)"
    ),
}
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


def item_to_ask(*, sex: str | None, age: int) -> str | None:
    """What to ask the previous city about someone of `sex` and `age` (years, on the move-in
    date): a child's checkups, a woman's pregnancy notification, or nothing."""
    if age < CHILD_UNDER_YEARS:
        return CHECKUP_ITEM
    if sex == "female" and WOMAN_FROM_YEARS <= age < WOMAN_UNDER_YEARS:
        return PREGNANCY_ITEM
    return None


async def queue_on_move_in(
    session: AsyncSession, *, snapshot: dict[str, Any], event_data: dict[str, Any]
) -> bool:
    """Queue the inquiry for a child under 6 or a woman of childbearing age who moved in
    from another municipality (in the consumer's transaction). True when one was queued."""
    source = event_data.get("previous_municipality_code")
    birth = snapshot.get("birth_date")
    moved_in_on = event_data.get("effective_date")
    if not source or not birth or not moved_in_on:
        return False
    moved_in = date.fromisoformat(str(moved_in_on))
    age = years_old(date.fromisoformat(str(birth)), moved_in)
    item = item_to_ask(sex=snapshot.get("sex"), age=age)
    if item is None:
        return False
    await repository.queue(
        session,
        id=uuid7(),
        person_no=str(snapshot["person_no"]),
        source=str(source),
        moved_in_on=moved_in,
        item_no=item,
    )
    wake_after_commit(session, PREVIOUS_CITY)  # asked at once, not on the job's next round
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
                        person_no=request.person_no,
                        provider=request.source_municipality,
                        item=request.item_no,
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
            if answer["answer"][request.item_no]["status"] == "held":
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
    item = answer["answer"].get(request.item_no, {})
    if item.get("status") != "provided":
        return 0
    checkup = request.item_no == CHECKUP_ITEM
    for record in item["records"]:
        data = record["data"]
        taken_on = data.get("taken_on") if checkup else None
        await repository.keep_record(
            session,
            id=uuid7(),
            person_no=request.person_no,
            source=request.source_municipality,
            item_no=request.item_no,
            record_key=record["record_key"],
            as_of=datetime.fromisoformat(record["as_of"]),
            programme_code=PROGRAMMES.get(data.get("checkup_kind", "")) if checkup else None,
            taken=bool(data.get("taken")) if checkup else None,
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
        purpose=PURPOSES[request.item_no],
        detail={
            "source": request.source_municipality,
            "item_no": request.item_no,
            "records": kept,
            "status": request.status,
        },
    )
