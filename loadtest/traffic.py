"""The load: projects made with manage.py, clients that mix the Mem0 calls, and the check
that every accepted add was ingested exactly once."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from loadtest.stats import Stats

ROOT = Path(__file__).resolve().parents[1]
TERMINAL = {"SUCCEEDED", "FAILED"}
# Share of each call in the mix (weights).
MIX = {"add_infer": 12, "add_direct": 18, "search": 25, "list": 20, "get": 15, "delete": 10}
FACTS = [
    "I prefer Python over JavaScript for backend work",
    "My favourite food is ramen",
    "I live in Lisbon and walk to work",
    "I am allergic to peanuts",
    "I work as a data engineer",
    "I usually drink green tea in the morning",
]


@dataclass(frozen=True)
class Project:
    project_id: str
    api_key: str


@dataclass
class Client:
    number: int
    project: Project
    user_id: str
    memory_ids: list[str] = field(default_factory=list)
    sequence: int = 0


def ensure_loopback(base_url: str) -> None:
    """Load goes to this machine only."""
    host = urlsplit(base_url).hostname or ""
    addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    if not addresses or not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise SystemExit(f"refusing to load {base_url}: not a loopback address ({addresses})")


async def create_projects(count: int, parallelism: int) -> list[Project]:
    run_id = time.strftime("%Y%m%d-%H%M%S")
    gate = asyncio.Semaphore(parallelism)

    async def one(index: int) -> Project:
        async with gate:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "manage.py", "engram_tenant", "create", "--json",
                "--org", f"loadtest {run_id} {index:03d}", "--project", f"loadtest {index:03d}",
                cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            out, _ = await process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"manage.py engram_tenant create failed ({process.returncode})")
        line = next(ln for ln in out.decode().splitlines() if ln.startswith("{"))
        created = json.loads(line)
        return Project(created["project_id"], created["api_key"])

    return list(await asyncio.gather(*(one(index) for index in range(count))))


async def call(
    http: httpx.AsyncClient,
    stats: Stats,
    name: str,
    method: str,
    url: str,
    key: str,
    body: Any = None,
) -> httpx.Response | None:
    headers = {"Authorization": f"Token {key}"}
    started = time.perf_counter()
    try:
        response = await http.request(method, url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        stats.record(name, "transport", time.perf_counter() - started, repr(exc))
        return None
    stats.record(name, response.status_code, time.perf_counter() - started, response.text)
    if response.status_code == 429:
        # Pace like a well-behaved client (bounded so that the run keeps its duration).
        await asyncio.sleep(min(float(response.headers.get("Retry-After", "1")), 5.0))
    return response


def _pick(client: Client) -> str:
    choice = random.choices(list(MIX), weights=list(MIX.values()))[0]  # noqa: S311
    if choice in {"get", "delete"} and not client.memory_ids:
        return "add_direct"
    return choice


async def one_call(http: httpx.AsyncClient, stats: Stats, client: Client) -> None:
    client.sequence += 1
    key, name = client.project.api_key, _pick(client)
    if name in {"add_infer", "add_direct"}:
        await _add(http, stats, client, infer=name == "add_infer")
    elif name == "search":
        body = {"query": "what does the user prefer?", "filters": {"user_id": client.user_id}}
        await call(http, stats, name, "POST", "/v3/memories/search/", key, body)
    elif name == "list":
        body = {"filters": {"user_id": client.user_id}}
        await call(http, stats, name, "POST", "/v3/memories/?page=1&page_size=50", key, body)
    elif name == "get":
        memory_id = random.choice(client.memory_ids)  # noqa: S311
        await call(http, stats, name, "GET", f"/v1/memories/{memory_id}/", key)
    else:
        memory_id = client.memory_ids.pop(random.randrange(len(client.memory_ids)))  # noqa: S311
        await call(http, stats, name, "DELETE", f"/v1/memories/{memory_id}/", key)


async def _add(http: httpx.AsyncClient, stats: Stats, client: Client, *, infer: bool) -> None:
    fact = random.choice(FACTS)  # noqa: S311
    # A unique sentence: an identical payload would be answered as a replay of the first.
    text = f"{fact}. (note {client.number}-{client.sequence})"
    body = {"messages": [{"role": "user", "content": text}], "user_id": client.user_id,
            "infer": infer}  # fmt: skip
    name = "add_infer" if infer else "add_direct"
    response = await call(http, stats, name, "POST", "/v3/memories/add/", client.project.api_key,
                          body)  # fmt: skip
    if response is None or response.status_code != 200:
        return
    answer = response.json()
    stats.accepted_events[client.project.project_id].add(answer["event_id"])
    if infer:
        stats.infer_events[client.project.project_id].add(answer["event_id"])
    else:
        client.memory_ids.extend(item["id"] for item in answer.get("results", []))


async def run_clients(
    base_url: str, projects: list[Project], clients: int, duration: float, stats: Stats
) -> None:
    deadline = time.monotonic() + duration
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:

        async def loop(client: Client) -> None:
            while time.monotonic() < deadline:
                await one_call(http, stats, client)

        everyone = [Client(n, projects[n % len(projects)], f"lt-user-{n}") for n in range(clients)]
        await asyncio.gather(*(loop(client) for client in everyone))


# --- after the load: were all accepted adds ingested exactly once? ------------------------------


async def server_events(http: httpx.AsyncClient, project: Project) -> list[dict[str, Any]]:
    events, page = [], 1
    while True:
        response = await http.get(
            f"/v1/events/?page={page}&page_size=200",
            headers={"Authorization": f"Token {project.api_key}"},
        )
        if response.status_code == 429:
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        response.raise_for_status()
        body = response.json()
        events.extend(body["results"])
        if not body.get("next"):
            return events
        page += 1


async def check_ingestion(
    base_url: str, projects: list[Project], stats: Stats, drain_timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + drain_timeout
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        while True:
            listed = await asyncio.gather(*(server_events(http, p) for p in projects))
            by_project = {p.project_id: events for p, events in zip(projects, listed, strict=True)}
            pending = _pending(by_project, stats)
            if pending == 0 or time.monotonic() > deadline:
                break
            print(f"  {pending} ingestion jobs still running ...", flush=True)
            await asyncio.sleep(5)
    result = _reconcile(by_project, stats)
    result["drain_seconds"] = round(time.monotonic() - started, 1)
    return result


def _pending(by_project: dict[str, list[dict[str, Any]]], stats: Stats) -> int:
    return sum(
        1 for project_id, events in by_project.items() for event in events
        if event["id"] in stats.infer_events[project_id] and event["status"] not in TERMINAL
    )  # fmt: skip


def _reconcile(by_project: dict[str, list[dict[str, Any]]], stats: Stats) -> dict[str, Any]:
    unknown_outcome = sum(c.get("transport", 0) for n, c in stats.statuses.items()
                          if n.startswith("add"))  # fmt: skip
    totals: Counter[str] = Counter()
    for project_id, events in by_project.items():
        seen = Counter(event["id"] for event in events)
        accepted = stats.accepted_events[project_id]
        totals["accepted"] += len(accepted)
        totals["lost"] += len(accepted - set(seen))
        totals["unacknowledged"] += len(set(seen) - accepted)
        totals["listed_twice"] += sum(1 for count in seen.values() if count > 1)
        totals["memories_added_twice"] += _memories_added_twice(events)
        for event in events:
            if event["id"] in stats.infer_events[project_id]:
                totals[f"infer_{event['status'].lower()}"] += 1
                totals.update(_outcome(event))
    # An add whose answer never arrived (transport error) may still have been accepted.
    extra = max(0, totals["unacknowledged"] - unknown_outcome)
    totals["duplicated"] = extra + totals["listed_twice"] + totals["memories_added_twice"]
    totals["infer_accepted"] = sum(len(ids) for ids in stats.infer_events.values())
    return dict(totals)


def _outcome(event: dict[str, Any]) -> list[str]:
    """What a finished infer add produced: new memories, only updates/no-ops of existing ones
    (the user said it before: deduplication), or nothing at all."""
    if event["status"] != "SUCCEEDED":
        return []
    kinds = {result.get("event") for result in event.get("results") or []}
    if "ADD" in kinds:
        return ["infer_added_memories"]
    return ["infer_deduplicated"] if kinds else ["infer_succeeded_without_results"]


def _memories_added_twice(events: list[dict[str, Any]]) -> int:
    added = Counter(
        result.get("id") for event in events for result in event.get("results") or []
        if result.get("event") == "ADD"
    )  # fmt: skip
    return sum(1 for count in added.values() if count > 1)
