"""Preload the benchmark project through the memory services (encryption, versions, audit,
blind index), with embeddings from the on-disk cache. Runs in-process with Django pointed at
the benchmark database. The HNSW index is dropped during the load and rebuilt afterwards
(pgvector builds it far faster in one pass than row by row); the HTTP add throughput is
measured later, with the index in place."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.corpus import memory_sentences
from bench.environment import DATA, PYTHON, ROOT, database_name, owner_sql
from bench.vectors import embed_cached

HNSW_CREATE = (
    "CREATE INDEX IF NOT EXISTS memory_embedding_hnsw ON memory_memory "
    "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
)


def state_path(memories: int, users: int, suffix: str = "") -> Path:
    return DATA / f"state-{database_name()}-{memories}-{users}{suffix}.json"


def load_state(memories: int, users: int) -> dict[str, Any] | None:
    path = state_path(memories, users)
    return json.loads(path.read_text()) if path.exists() else None


def bootstrap_project(memories: int, users: int) -> dict[str, Any]:
    from audit.services import CLI_ACTOR
    from tenants.services import tenant_bootstrap

    _org, project, issued = tenant_bootstrap(
        org_name=f"bench {memories}", project_name=f"bench {memories}x{users}", actor=CLI_ACTOR
    )
    return {"project_id": str(project.id), "api_key": issued.plaintext, "loaded": 0}


def preload(
    env: dict[str, str], *, memories: int, users: int, seed: int = 0, workers: int = 2
) -> dict[str, Any]:
    """The project for this scale, loaded (idempotent: resumes or reuses an earlier load).

    `workers` processes load interleaved users side by side: most of a batch's time is spent
    waiting on PostgreSQL, so a second process keeps both cores busy."""
    DATA.mkdir(parents=True, exist_ok=True)
    state = load_state(memories, users) or bootstrap_project(memories, users)
    state_path(memories, users).write_text(json.dumps(state))
    if state["loaded"] >= memories:
        return state
    print(f"generating {memories} sentences", flush=True)
    pairs = list(memory_sentences(memories, seed))
    embed_cached([text for text, _ in pairs], label="corpus")  # cached for the workers
    owner_sql(env, "DROP INDEX IF EXISTS memory_embedding_hnsw")
    command = [PYTHON, "-m", "bench.preload", str(memories), str(users), str(seed)]
    children = [
        subprocess.Popen([*command, str(part), str(workers)], cwd=ROOT, env=env)
        for part in range(workers)
    ]
    if any(child.wait() != 0 for child in children):
        raise SystemExit("a preload worker failed; run again to resume")
    state["loaded"] = memories
    state_path(memories, users).write_text(json.dumps(state))
    _finish(env, state)
    return state


def load_part(*, memories: int, users: int, seed: int, part: int, parts: int) -> None:
    """Users part, part + parts, ... of this scale (one preload worker process), resumable:
    the next user to load is kept in a progress file of its own."""
    state = load_state(memories, users)
    assert state is not None, "the parent writes the state first"
    progress = state_path(memories, users, f".part{part}of{parts}")
    next_user = json.loads(progress.read_text())["next"] if progress.exists() else part
    pairs = list(memory_sentences(memories, seed))
    vectors = embed_cached([text for text, _ in pairs], label="corpus")
    per_user = memories // users
    started, done = time.monotonic(), 0
    for user in range(next_user, users, parts):
        _load_user(state, user, pairs, vectors, per_user)
        done += per_user
        progress.write_text(json.dumps({"next": user + parts}))
        if (user // parts) % 100 == 0:
            rate = done / (time.monotonic() - started)
            print(f"  worker {part}: user {user + 1}/{users} ({rate:.0f} memories/s)", flush=True)


def _load_user(state: dict[str, Any], user: int, pairs: list, vectors: Any, per_user: int) -> None:
    from audit.services import CLI_ACTOR
    from memory.services.memories import MemoryScope, NewMemory, memories_create
    from tenants.context import tenant_context
    from tenants.models import Project

    start = user * per_user
    base = datetime(2025, 1, 1, tzinfo=UTC)
    items = [
        NewMemory(
            text=pairs[i][0], categories=[pairs[i][1]], embedding=vectors[i],
            created_at=base + timedelta(minutes=(i * 7919) % (365 * 24 * 60)),
        )
        for i in range(start, start + per_user)
    ]  # fmt: skip
    with tenant_context(state["project_id"]):
        project = Project.objects.get(pk=state["project_id"])
        memories_create(
            project=project, scope=MemoryScope(user_id=f"user-{user}"), items=items,
            actor=CLI_ACTOR,
        )  # fmt: skip


def _finish(env: dict[str, str], state: dict[str, Any]) -> None:
    from memory.retrieval import bm25_stats_compact
    from tenants.context import tenant_context

    with tenant_context(state["project_id"]):
        bm25_stats_compact(project_id=state["project_id"])
    print("building the HNSW index", flush=True)
    started = time.monotonic()
    owner_sql(
        env,
        "SET maintenance_work_mem = '4GB'",
        "SET max_parallel_maintenance_workers = 1",
        HNSW_CREATE,
    )
    print(f"  HNSW built in {time.monotonic() - started:.0f}s; VACUUM ANALYZE", flush=True)
    owner_sql(env, "VACUUM ANALYZE memory_memory", "VACUUM ANALYZE memory_memorytoken",
              "VACUUM ANALYZE memory_bm25stat")  # fmt: skip


if __name__ == "__main__":
    # A preload worker: `python -m bench.preload MEMORIES USERS SEED PART PARTS`, started by
    # preload() with the benchmark's environment.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    numbers = [int(value) for value in sys.argv[1:6]]
    load_part(
        memories=numbers[0], users=numbers[1], seed=numbers[2], part=numbers[3], parts=numbers[4]
    )
