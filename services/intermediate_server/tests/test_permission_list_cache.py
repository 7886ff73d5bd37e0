"""The hub and each provider keep the permission list per process and read it again when its
stamp (latest version, rows) moves: a new list version is honoured by the next inquiry, with
no restart, at the hub first and at a provider once its copy is synced."""

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from intermediate_server.deps import INQUIRE, PLATFORM_ADMIN

from .conftest import Headers
from .test_refusals import inquiry, moved_child

CLAUSE_1 = "主務省令第2条の表1の項"  # on no version of the list until the test adds it


async def test_a_new_list_version_is_honoured_without_a_restart(
    client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
) -> None:
    kitakyushu_no, _ = await moved_child(client, headers)
    ask = inquiry(kitakyushu_no, clause=CLAUSE_1)

    # Read and cached by the hub: the clause is on no list.
    refused = await client.post("/inquiries", json=ask, headers=headers(INQUIRE))
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"].startswith("not on the permission list")

    await db_session.execute(
        text(
            "INSERT INTO hub.permission_rule (list_version, requester, provider, clause, item_no,"
            " item_name, valid_from) VALUES (2, '*', '*', :clause, '95', '健康診査情報',"
            " '2020-04-01')"
        ),
        {"clause": CLAUSE_1},
    )
    # The hub sees version 2 and issues the permit; the provider's copy is still version 1
    # (and cached), so the provider refuses.
    by_provider = await client.post("/inquiries", json=ask, headers=headers(INQUIRE))
    assert by_provider.status_code == 403, by_provider.text
    assert by_provider.json()["detail"] == (
        "the provider refused: not on the provider's permission list: items 95"
    )

    synced = await client.post(
        "/admin/system/permission-list/sync", headers=headers(PLATFORM_ADMIN, sub="ims-operator")
    )
    assert synced.json()["counts"]["list_version"] == 2
    answered = await client.post("/inquiries", json=ask, headers=headers(INQUIRE))
    assert answered.status_code == 201, answered.text
    assert answered.json()["answer"]["95"]["status"] == "provided"
