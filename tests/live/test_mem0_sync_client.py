"""The real `mem0ai` MemoryClient against a real gunicorn: every CORE and RESET method,
plus batch, export, summary, feedback, history and the project helper. Content is checked,
not just statuses."""

from typing import Any

import httpx
import pytest
from mem0.exceptions import MemoryNotFoundError, ValidationError

from tests.conftest import Tenant
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.live


def memories_of(client: Any, user_id: str) -> list[dict[str, Any]]:
    return client.get_all(filters={"user_id": user_id}, page=1, page_size=200)["results"]


def test_add_without_inference_stores_each_message_once(mem0_client: Any) -> None:
    conversation = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "I am vegetarian and allergic to nuts."},
        {"role": "assistant", "content": "Noted, no nuts and no meat."},
    ]
    added = mem0_client.add(conversation, user_id="alice", infer=False, metadata={"src": "chat"})
    assert added["status"] == "SUCCEEDED" and added["event_id"]
    assert [r["memory"] for r in added["results"]] == [
        "I am vegetarian and allergic to nuts.",
        "Noted, no nuts and no meat.",
    ]
    assert all(r["event"] == "ADD" and r["data"]["memory"] == r["memory"] for r in added["results"])

    again = mem0_client.add(conversation, user_id="alice", infer=False)
    assert {r["id"] for r in again["results"]} == {r["id"] for r in added["results"]}
    stored = memories_of(mem0_client, "alice")
    assert sorted(m["memory"] for m in stored) == sorted(r["memory"] for r in added["results"])
    assert stored[0]["metadata"] == {"src": "chat"}


def test_add_with_inference_answers_pending_and_the_event_reports_it(
    mem0_client: Any, gunicorn_server: LiveServer, fresh_tenant: Tenant
) -> None:
    queued = mem0_client.add("I moved to Lisbon last month.", user_id="bob")
    assert queued["status"] == "PENDING" and queued["event_id"]
    event = httpx.get(
        f"{gunicorn_server.url}/v1/event/{queued['event_id']}/",
        headers={"Authorization": f"Token {fresh_tenant.api_key}"},
    ).json()
    assert event["id"] == queued["event_id"]
    assert event["status"] in {"PENDING", "RUNNING", "SUCCEEDED"}
    assert event["event_type"] == "ADD"


def test_search_with_nested_filters_ranks_the_relevant_memory_first(mem0_client: Any) -> None:
    mem0_client.add(
        "I love drinking green tea every morning",
        user_id="carol",
        infer=False,
        metadata={"topic": "drinks"},
    )
    mem0_client.add("My brother lives in Madrid", user_id="carol", infer=False)
    mem0_client.add("I love drinking green tea too", user_id="dave", infer=False)
    hits = mem0_client.search(
        "what does she drink?",
        filters={
            "AND": [
                {"user_id": "carol"},
                {"OR": [{"metadata": {"topic": "drinks"}}, {"categories": {"in": ["family"]}}]},
            ]
        },
        top_k=5,
        threshold=0.0,
    )["results"]
    assert hits and hits[0]["memory"] == "I love drinking green tea every morning"
    assert all(hit["user_id"] == "carol" for hit in hits)
    assert all(0.0 <= hit["score"] <= 1.0 for hit in hits)
    only_family = mem0_client.search(
        "where",
        filters={"AND": [{"user_id": "carol"}, {"NOT": {"metadata": {"topic": "drinks"}}}]},
        threshold=0.0,
    )["results"]
    assert [hit["memory"] for hit in only_family] == ["My brother lives in Madrid"]


def test_list_is_paginated_with_absolute_links(mem0_client: Any) -> None:
    for number in range(5):
        mem0_client.add(f"Fact number {number} about erin", user_id="erin", infer=False)
    first = mem0_client.get_all(filters={"user_id": "erin"}, page=1, page_size=2)
    assert first["count"] == 5 and len(first["results"]) == 2
    assert first["previous"] is None and "page=2" in first["next"]
    last = mem0_client.get_all(filters={"user_id": "erin"}, page=3, page_size=2)
    assert len(last["results"]) == 1 and last["next"] is None
    seen = {
        m["id"]
        for p in (1, 2, 3)
        for m in mem0_client.get_all(filters={"user_id": "erin"}, page=p, page_size=2)["results"]
    }
    assert len(seen) == 5


def test_get_update_history_delete_round_trip(mem0_client: Any) -> None:
    memory_id = mem0_client.add("Alice is vegetarian", user_id="alice", infer=False)["results"][0][
        "id"
    ]
    assert mem0_client.get(memory_id)["memory"] == "Alice is vegetarian"
    updated = mem0_client.update(memory_id, text="Alice is vegan", metadata={"diet": "vegan"})
    assert updated["memory"] == "Alice is vegan" and updated["metadata"] == {"diet": "vegan"}
    history = mem0_client.history(memory_id)
    assert [(h["event"], h["old_memory"], h["new_memory"]) for h in history] == [
        ("ADD", None, "Alice is vegetarian"),
        ("UPDATE", "Alice is vegetarian", "Alice is vegan"),
    ]
    assert mem0_client.delete(memory_id)["message"] == "Memory deleted successfully!"
    with pytest.raises(MemoryNotFoundError):
        mem0_client.get(memory_id)
    assert [h["event"] for h in mem0_client.history(memory_id)] == ["ADD", "UPDATE", "DELETE"]


def test_delete_all_by_user_leaves_other_users_alone(mem0_client: Any) -> None:
    mem0_client.add("Frank likes jazz", user_id="frank", infer=False)
    mem0_client.add("Grace likes rock", user_id="grace", infer=False)
    assert "deleted" in mem0_client.delete_all(user_id="frank")["message"]
    assert memories_of(mem0_client, "frank") == []
    assert [m["memory"] for m in memories_of(mem0_client, "grace")] == ["Grace likes rock"]
    with pytest.raises(ValidationError):
        mem0_client.delete_all()
    mem0_client.delete_all(filters={"user_id": "grace"})
    assert memories_of(mem0_client, "grace") == []


def test_users_delete_users_and_reset(mem0_client: Any) -> None:
    mem0_client.add("Heidi plays chess", user_id="heidi", infer=False)
    mem0_client.add("The bot speaks French", agent_id="bot-1", infer=False)
    mem0_client.add("Session note", run_id="run-1", user_id="ivan", infer=False)
    entities = mem0_client.users()
    assert {(e["type"], e["name"]) for e in entities["results"]} == {
        ("user", "heidi"),
        ("agent", "bot-1"),
        ("run", "run-1"),
        ("user", "ivan"),
    }
    assert entities["total_users"] == 2 and entities["count"] == 4
    mem0_client.delete_users(user_id="heidi")
    assert ("user", "heidi") not in {(e["type"], e["name"]) for e in mem0_client.users()["results"]}
    with pytest.raises(MemoryNotFoundError):
        mem0_client.delete_users(user_id="nobody")
    mem0_client.reset()
    assert mem0_client.users()["results"] == []


def test_batch_update_and_delete(mem0_client: Any) -> None:
    ids = [
        r["id"]
        for r in mem0_client.add(
            [
                {"role": "user", "content": "I like cats"},
                {"role": "user", "content": "I like dogs"},
            ],
            user_id="judy",
            infer=False,
        )["results"]
    ]
    updated = mem0_client.batch_update(
        [
            {"memory_id": ids[0], "text": "I like big cats"},
            {"memory_id": ids[1], "metadata": {"pet": "dog"}},
        ]
    )
    assert updated["message"] == "Successfully updated 2 memories"
    assert mem0_client.get(ids[0])["memory"] == "I like big cats"
    assert mem0_client.get(ids[1])["metadata"] == {"pet": "dog"}
    deleted = mem0_client.batch_delete([{"memory_id": ids[0]}, {"memory_id": ids[1]}])
    assert deleted["message"] == "Successfully deleted 2 memories"
    assert memories_of(mem0_client, "judy") == []


def test_export_summary_feedback_and_project(mem0_client: Any) -> None:
    mem0_client.add(
        [
            {"role": "user", "content": "I play tennis on weekends"},
            {"role": "user", "content": "I enjoy hiking in the Alps"},
        ],
        user_id="kim",
        infer=False,
    )
    schema = {
        "type": "object",
        "properties": {"hobbies": {"type": "array", "items": {"type": "string"}}},
    }
    created = mem0_client.create_memory_export(schema=schema, filters={"user_id": "kim"})
    assert created["id"]
    exported = mem0_client.get_memory_export(memory_export_id=created["id"])
    assert "I play tennis on weekends" in exported["hobbies"]
    summary = mem0_client.get_summary(filters={"user_id": "kim"})
    assert summary[0]["memory_count"] == 2 and "tennis" in summary[0]["summary"]
    memory_id = memories_of(mem0_client, "kim")[0]["id"]
    assert mem0_client.feedback(memory_id, "positive", "useful")["feedback"] == "POSITIVE"
    mem0_client.project.update(
        custom_instructions="Only food facts", custom_categories=[{"food": "What the user eats"}]
    )
    project = mem0_client.project.get()
    assert project["custom_instructions"] == "Only food facts"
    assert project["custom_categories"] == [{"food": "What the user eats"}]
    assert isinstance(mem0_client.project.get_members(), list)


def test_doubled_slash_ping_and_trailing_slash_host(
    gunicorn_server: LiveServer, fresh_tenant: Tenant
) -> None:
    response = httpx.get(
        f"{gunicorn_server.url}//v1/ping/",
        headers={"Authorization": f"Token {fresh_tenant.api_key}"},
    )
    assert response.status_code == 200
    assert response.json()["project_id"] == str(fresh_tenant.project.id)
    from mem0 import AsyncMemoryClient

    client = AsyncMemoryClient(api_key=fresh_tenant.api_key, host=gunicorn_server.url + "/")
    assert client.user_email is None


def test_wrong_key_is_refused_at_construction(gunicorn_server: LiveServer) -> None:
    from mem0 import MemoryClient

    with pytest.raises(ValueError, match="Invalid or missing API key"):
        MemoryClient(api_key="eng_nothing_here", host=gunicorn_server.url)
