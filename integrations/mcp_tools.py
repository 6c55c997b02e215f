"""What the MCP tools do, as plain synchronous functions over Engram's services.

Each call authenticates its API key exactly as the REST API does (the same authenticator,
so unknown, expired and revoked keys fail alike), checks the scope the matching REST
endpoint needs, and runs in one transaction bound to the key's project, so row-level
security applies as it does for a request. Writes are audited by the services under the
key's identity. The MCP server (integrations/mcp_server.py) only adapts these to the SDK.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from mcp.server.mcpserver.exceptions import ToolError as SdkToolError
from rest_framework import exceptions
from rest_framework.request import Request

from config.errors import EngramError
from memory.filters import parse_filters
from memory.records import memory_record
from memory.selectors.memories import Visibility, memories_page, memory_get, parse_memory_id
from memory.services.memories import MemoryScope, memory_delete
from tenants.authentication import ApiKeyAuthentication, ApiPrincipal
from tenants.context import tenant_context

T = TypeVar("T")
MAX_TOP_K = 100
MAX_PAGE_SIZE = 100


class ToolError(SdkToolError):
    """A failure the agent should read (bad input, missing memory, bad key): the SDK passes
    its message to the model, where any other exception becomes a bare "Error executing"."""


@dataclass(frozen=True)
class _HeaderOnly:
    """The one part of a request the authenticator reads."""

    headers: dict[str, str]


def principal_for_key(api_key: str) -> ApiPrincipal:
    authenticator = ApiKeyAuthentication()
    request = cast(Request, _HeaderOnly({"Authorization": f"Token {api_key.strip()}"}))
    try:
        found = authenticator.authenticate(request)
    except exceptions.AuthenticationFailed as exc:
        raise ToolError("Invalid API key.") from exc
    if found is None:
        raise ToolError("Invalid API key.")
    return found[0]


def _as_project(principal: ApiPrincipal, scope: str, work: Callable[[], T]) -> T:
    if scope not in principal.scopes and "admin" not in principal.scopes:
        raise ToolError(f"This API key lacks the '{scope}' scope.")
    project = principal.project
    try:
        with tenant_context(project.id, project.organization_id):
            return work()
    except EngramError as exc:
        raise ToolError(exc.message) from exc


def entity_filters(
    user_id: str | None, agent_id: str | None, run_id: str | None, extra: dict[str, Any] | None
) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = [
        {name: value}
        for name, value in (("user_id", user_id), ("agent_id", agent_id), ("run_id", run_id))
        if value
    ]
    if extra:
        clauses.append(extra)
    if not clauses:
        raise ToolError("Give at least one of user_id, agent_id or run_id.")
    return clauses[0] if len(clauses) == 1 else {"AND": clauses}


def add_memory(
    principal: ApiPrincipal,
    *,
    text: str,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    infer: bool = True,
) -> dict[str, Any]:
    from memory.services.direct import DirectAddOptions, memories_add_direct
    from memory.services.ingestion import ingestion_accept

    scope = MemoryScope(user_id=user_id, agent_id=agent_id, run_id=run_id)
    messages = [{"role": "user", "content": text}]
    actor = principal.actor

    def work() -> dict[str, Any]:
        project = principal.project
        if infer:
            job = ingestion_accept(
                project=project,
                scope=scope,
                messages=messages,
                options={"metadata": metadata} if metadata else {},
                actor=actor,
                idempotency_key=None,
            )
            # A replayed add (same payload moments ago) answers with the earlier job.
            return {"event_id": str(job.id), "status": str(job.status).upper(), "results": []}
        added = memories_add_direct(
            project=project,
            scope=scope,
            messages=messages,
            options=DirectAddOptions(metadata=metadata),
            actor=actor,
        )
        results = [
            {"id": str(c.memory.id), "memory": c.text, "event": c.event} for c in added.changes
        ]
        return {"event_id": str(added.event.id), "status": "SUCCEEDED", "results": results}

    return _as_project(principal, "write", work)


def search_memories(
    principal: ApiPrincipal,
    *,
    query: str,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    filters: dict[str, Any] | None = None,
    top_k: int = 10,
    threshold: float = 0.1,
) -> dict[str, Any]:
    from memory.retrieval import SearchOptions
    from memory.retrieval import search_memories as engine_search

    if not query.strip():
        raise ToolError("query must not be empty.")
    raw = entity_filters(user_id, agent_id, run_id, filters)

    def work() -> dict[str, Any]:
        hits = engine_search(
            project_id=principal.project.id,
            query=query,
            filters=parse_filters(principal.project.id, raw, require_scope=True),
            top_k=max(1, min(top_k, MAX_TOP_K)),
            threshold=threshold,
            options=SearchOptions(),
        )
        records = []
        for hit in hits:
            record = memory_record(hit.memory, text=hit.text)
            records.append({**record, "score": round(float(hit.score), 6)})
        return {"results": records}

    return _as_project(principal, "read", work)


def list_memories(
    principal: ApiPrincipal,
    *,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> dict[str, Any]:
    raw = entity_filters(user_id, agent_id, run_id, None)
    if page < 1:
        raise ToolError("page starts at 1.")

    def work() -> dict[str, Any]:
        found = memories_page(
            project=principal.project,
            filters=parse_filters(principal.project.id, raw, require_scope=True),
            page=page,
            page_size=max(1, min(page_size, MAX_PAGE_SIZE)),
            visibility=Visibility(),
        )
        return {"count": found.count, "results": found.records}

    return _as_project(principal, "read", work)


def get_memory(principal: ApiPrincipal, *, memory_id: str) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        return memory_record(memory_get(project=principal.project, memory_id=memory_id))

    return _as_project(principal, "read", work)


def delete_memory(principal: ApiPrincipal, *, memory_id: str) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        memory_delete(
            project=principal.project,
            memory_id=parse_memory_id(memory_id),
            actor=principal.actor,
        )
        return {"message": "Memory deleted successfully!", "id": memory_id}

    return _as_project(principal, "delete", work)
