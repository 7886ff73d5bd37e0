"""Each household's letter: what it says (the children due, their programmes and windows),
where it goes and to whom; and, for the mailing list, the letters a run has sent."""

from datetime import date
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.checkups.models import CheckupNotice
from boshi_core.people import repository as people
from boshi_core.people.models import Person
from boshi_core.reminders import repository
from boshi_core.reminders.letters import DueChild, Letter, MailingAddress, mailing_address
from boshi_core.reminders.mailing_list import SentLetter
from mch_common.dates import today_tokyo


async def letter_header(
    session: AsyncSession, child: Person, on: date
) -> tuple[MailingAddress, str]:
    """Where the household's letter goes and to whom: the delivery address's addressee, else
    the mother as the read model knows her, else the child's family as guardian (保護者)."""
    address = mailing_address(child.address, child.delivery_addresses, on)
    if address.addressee:
        return address, address.addressee
    mother = None
    if child.mother_person_no:
        mother = await people.get(session, child.mother_person_no)
    # Without a known mother: 「北九 結菜 保護者 様」, the child's guardian.
    return address, mother.full_name if mother else f"{child.full_name} 保護者"


async def build_letter(
    session: AsyncSession,
    run_id: UUID,
    run_period: date,
    household_key: str,
    *,
    programme_names: dict[str, str],
    issued_on: date,
) -> tuple[Letter, list[UUID]] | None:
    """The household's letter and the reminders it carries (locked), or None when another
    process has them."""
    notices = await repository.pending_notices_for_update(session, run_id, household_key)
    if not notices:
        return None
    person_nos = sorted({n.person_no for n in notices})
    children = await repository.people_by_number(session, person_nos)
    first = children[person_nos[0]]
    address, addressee = await letter_header(session, first, issued_on)
    sent_before = await repository.letters_sent_to(session, run_id, household_key)
    # Deterministic: a crash between writing the file and committing rewrites the same letter.
    letter_no = f"{run_period:%Y%m}-{household_key}-{sent_before + 1}"
    due = tuple(
        DueChild(
            person_no=n.person_no,
            name=children[n.person_no].full_name,
            # The letter carries the Japanese name only: 「4か月児健康診査 (4-month checkup)」.
            programme_name=programme_names.get(n.programme_code, n.programme_code).split(" (")[0],
            window_start=n.window_start,
            window_end=n.window_end,
        )
        for n in notices
    )
    letter = Letter(
        letter_no=letter_no,
        issued_on=issued_on,
        ward_code=first.ward_code,
        address=address,
        addressee=addressee,
        children=due,
    )
    return letter, [n.id for n in notices]


async def sent_letters(session: AsyncSession, run_id: UUID) -> list[SentLetter]:
    """One entry per letter the run has sent, addressed as it was on the day it was sent."""
    by_letter: dict[str, list[tuple[CheckupNotice, Person]]] = {}
    for notice, child in await repository.sent_with_children(session, run_id):
        by_letter.setdefault(notice.letter_no or "", []).append((notice, child))
    letters: list[SentLetter] = []
    for letter_no, rows in by_letter.items():
        notice, first = rows[0]
        address, addressee = await letter_header(
            session,
            first,
            today_tokyo(notice.sent_at),  # the day it was sent
        )
        letters.append(
            SentLetter(
                letter_no=letter_no,
                file=notice.letter_file or "",
                page=notice.letter_page,
                address=address,
                addressee=addressee,
                ward_code=first.ward_code,
                children=len({child.person_no for _, child in rows}),
            )
        )
    return letters
