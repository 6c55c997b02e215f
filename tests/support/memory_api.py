"""Builders for API tests: memories added through the real endpoint (infer=false)."""

from typing import Any

from rest_framework.test import APIClient


def add_memory(client: APIClient, text: str, user_id: str | None = "alice", **extra: Any) -> str:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": text}], "infer": False}
    if user_id is not None:
        body["user_id"] = user_id
    body.update(extra)
    response = client.post("/v3/memories/add/", body, format="json")
    assert response.status_code == 200, response.content
    memory_id: str = response.json()["results"][0]["id"]
    return memory_id


def listed(client: APIClient, filters: dict[str, Any], **body: Any) -> list[dict[str, Any]]:
    response = client.post("/v3/memories/", {"filters": filters, **body}, format="json")
    assert response.status_code == 200, response.content
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def texts(records: list[dict[str, Any]]) -> list[str]:
    return sorted(record["memory"] for record in records)
