"""Registration of providable data in the replica by the business systems."""

import json
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from intermediate_server.codes.service import person_key
from intermediate_server.replica import repository
from mch_common.auth.principal import Principal
from mch_common.ids import uuid7
from mch_common.work import UnitOfWork


async def register(
    session: AsyncSession,
    *,
    principal: Principal,
    person_no: str,
    item_no: str,
    record_key: str,
    as_of: datetime,
    no_auto_response: bool,
    data: dict[str, Any],
) -> bool:
    current = await repository.upsert(
        session,
        id=uuid7(),
        tenant=principal.tenant,
        person_no=person_no,
        item_no=item_no,
        record_key=record_key,
        as_of=as_of,
        no_auto_response=no_auto_response,
        data=json.dumps(data, ensure_ascii=False, default=str),
    )
    UnitOfWork.of(session).record_access(
        principal,
        action="replica.register",
        target_type="replica_entry",
        target_id=f"{item_no}:{record_key}",
        detail={"tenant": principal.tenant, "item_no": item_no, "current": current},
        persons=[person_key(principal.tenant, person_no)],
    )
    return current


async def register_by_system(
    session: AsyncSession,
    *,
    system: str,
    tenant: str,
    person_no: str,
    item_no: str,
    record_key: str,
    as_of: datetime,
    data: dict[str, Any],
    action: str = "replica.register",
) -> bool:
    """A registration a business system made by event (`system`: the event's source); a
    correction (訂正) is recorded as `replica.correct`."""
    current = await repository.upsert(
        session,
        id=uuid7(),
        tenant=tenant,
        person_no=person_no,
        item_no=item_no,
        record_key=record_key,
        as_of=as_of,
        no_auto_response=False,
        data=json.dumps(data, ensure_ascii=False, default=str),
    )
    UnitOfWork.of(session).record(
        actor=system,
        action=action,
        target_type="replica_entry",
        target_id=f"{item_no}:{record_key}",
        detail={"tenant": tenant, "item_no": item_no, "current": current},
        persons=[person_key(tenant, person_no)],
    )
    return current
