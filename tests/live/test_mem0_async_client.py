"""The real `mem0ai` AsyncMemoryClient against a real gunicorn: the same CORE and RESET
methods as the sync client, plus batch, export and history."""

import asyncio
from typing import Any

import pytest
from mem0.exceptions import MemoryNotFoundError

from tests.conftest import Tenant
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.live


async def _core_flow(client: Any) -> None:
    added = await client.add(
        [
            {"role": "user", "content": "I work as a nurse in Porto"},
            {"role": "user", "content": "My favourite food is bacalhau"},
        ],
        user_id="lena",
        infer=False,
    )
    ids = [r["id"] for r in added["results"]]
    assert len(ids) == 2
    hits = await client.search("what is her job?", filters={"user_id": "lena"}, threshold=0.0)
    assert hits["results"][0]["memory"] == "I work as a nurse in Porto"
    page = await client.get_all(filters={"user_id": "lena"}, page=1, page_size=1)
    assert page["count"] == 2 and len(page["results"]) == 1 and page["next"]
    assert (await client.get(ids[0]))["memory"] == "I work as a nurse in Porto"
    await client.update(ids[0], text="I work as a doctor in Porto")
    history = await client.history(ids[0])
    assert [h["event"] for h in history] == ["ADD", "UPDATE"]
    assert history[1]["old_memory"] == "I work as a nurse in Porto"
    await client.delete(ids[0])
    with pytest.raises(MemoryNotFoundError):
        await client.get(ids[0])
    await client.delete_all(user_id="lena")
    assert (await client.get_all(filters={"user_id": "lena"}))["results"] == []


async def _reset_flow(client: Any) -> None:
    await client.add("Mia likes opera", user_id="mia", infer=False)
    await client.add("Agent note", agent_id="helper", infer=False)
    users = await client.users()
    assert {(e["type"], e["name"]) for e in users["results"]} == {
        ("user", "mia"),
        ("agent", "helper"),
    }
    await client.delete_users(user_id="mia")
    await client.reset()
    assert (await client.users())["results"] == []


async def _batch_export_flow(client: Any) -> None:
    added = await client.add(
        [
            {"role": "user", "content": "I collect vintage stamps"},
            {"role": "user", "content": "I go hiking on Sundays"},
        ],
        user_id="nora",
        infer=False,
    )
    ids = [r["id"] for r in added["results"]]
    await client.batch_update([{"memory_id": ids[0], "text": "I collect rare stamps"}])
    assert (await client.get(ids[0]))["memory"] == "I collect rare stamps"
    created = await client.create_memory_export(
        schema={
            "type": "object",
            "properties": {"hobbies": {"type": "array", "items": {"type": "string"}}},
        },
        filters={"user_id": "nora"},
    )
    exported = await client.get_memory_export(memory_export_id=created["id"])
    assert "I go hiking on Sundays" in exported["hobbies"]
    queued = await client.add("I adopted a cat named Miso", user_id="nora")
    assert queued["status"] == "PENDING" and queued["event_id"]
    await client.batch_delete([{"memory_id": memory_id} for memory_id in ids])
    assert (await client.get_all(filters={"user_id": "nora"}))["results"] == []


@pytest.mark.parametrize("flow", [_core_flow, _reset_flow, _batch_export_flow])
def test_async_client(flow: Any, gunicorn_server: LiveServer, fresh_tenant: Tenant) -> None:
    from mem0 import AsyncMemoryClient

    async def run() -> None:
        async with AsyncMemoryClient(api_key=fresh_tenant.api_key, host=gunicorn_server.url) as c:
            await flow(c)

    asyncio.run(run())
