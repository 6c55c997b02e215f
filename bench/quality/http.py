"""Ask the quality questions through `POST /v3/memories/search/`, as a user's suite would."""

from __future__ import annotations

import atexit
from collections.abc import Callable
from typing import Any

from bench.environment import Server


def http_asker(env: dict[str, str], state: dict[str, Any]) -> Callable[..., list[str]]:
    import httpx

    server = Server(env).__enter__()
    # gunicorn runs in its own session, so nothing stops it with this process but this.
    atexit.register(server.__exit__)
    client = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Token {state['api_key']}"}, timeout=60
    )

    def ask(state: dict[str, Any], conv_id: str, question: str, body: dict) -> list[str]:
        # No threshold: the server's default (0.1, as Mem0's) applies, as for any client.
        payload = {**body, "query": question, "filters": {"user_id": conv_id}}
        response = client.post("/v3/memories/search/", json=payload)
        response.raise_for_status()
        return [record["id"] for record in response.json()["results"]]

    return ask
