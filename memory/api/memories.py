"""Per-memory endpoints (get, update, delete, history) and delete-all (spec §4.5-4.9)."""

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import InvalidInput
from memory.api.common import (
    MemoryApiView,
    TimestampField,
    metadata_field,
    parse_loose_object,
)
from memory.filters import ENTITY_FIELDS
from memory.records import memory_record
from memory.selectors.memories import memory_get, memory_history, parse_memory_id
from memory.services.bulk import memories_delete_matching
from memory.services.memories import memory_delete, memory_update, validate_text

TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off", ""}


class MemoryDetailApi(MemoryApiView):
    """GET/PUT/DELETE /v1/memories/{memory_id}/."""

    class UpdateInput(serializers.Serializer):
        text = serializers.CharField(required=False, allow_null=True, trim_whitespace=False)
        metadata = metadata_field()
        timestamp = TimestampField(required=False, allow_null=True)
        expiration_date = serializers.DateField(
            required=False, allow_null=True, input_formats=["%Y-%m-%d", "iso-8601"]
        )

    def get(self, request: Request, memory_id: str) -> Response:
        return Response(memory_record(memory_get(project=self.project, memory_id=memory_id)))

    def put(self, request: Request, memory_id: str) -> Response:
        key = parse_memory_id(memory_id)
        data = self.parse(self.UpdateInput, self.body(request))
        changes = _update_changes(data)
        change = memory_update(
            project=self.project, memory_id=key, actor=self.principal.actor, **changes
        )
        record = memory_record(change.memory, text=change.text)
        return Response({**record, "message": "Memory updated successfully!"})

    def patch(self, request: Request, memory_id: str) -> Response:
        return self.put(request, memory_id)

    def delete(self, request: Request, memory_id: str) -> Response:
        key = parse_memory_id(memory_id)
        linked = query_flag(self.query(request), "delete_linked")
        count = memory_delete(
            project=self.project, memory_id=key, actor=self.principal.actor, delete_linked=linked
        )
        body: dict[str, Any] = {"message": "Memory deleted successfully!"}
        if linked:
            body["cascade_count"] = count
        return Response(body)


def _update_changes(data: dict[str, Any]) -> dict[str, Any]:
    """Only what was sent changes; `expiration_date: null` clears the expiry."""
    changes: dict[str, Any] = {}
    if data.get("text") is not None:
        changes["text"] = validate_text(data["text"])
    if data.get("metadata") is not None:
        changes["metadata"] = data["metadata"]
    if data.get("timestamp") is not None:
        changes["created_at"] = data["timestamp"]
    if "expiration_date" in data:
        changes["expiration_date"] = data["expiration_date"]
    if not changes:
        raise InvalidInput("Nothing to update: give text, metadata, timestamp or expiration_date.")
    return changes


def query_flag(query: dict[str, str], name: str, default: bool = False) -> bool:
    raw = query.get(name)
    if raw is None:
        return default
    if raw.strip().lower() in TRUE_WORDS:
        return True
    if raw.strip().lower() in FALSE_WORDS:
        return False
    raise InvalidInput(f"{name}: expected true or false, got {raw!r}.")


class MemoryHistoryApi(MemoryApiView):
    """GET /v1/memories/{memory_id}/history/: every version, oldest first."""

    def get(self, request: Request, memory_id: str) -> Response:
        return Response(memory_history(project=self.project, memory_id=memory_id))


def delete_all_filter(query: dict[str, str]) -> dict[str, Any]:
    """The filter of `delete_all`: entity ids as query parameters ('*' = any value), plus
    optional `filters` and `metadata` dicts as Python repr or JSON. All are ANDed."""
    clauses: list[dict[str, Any]] = []
    ids = {name: query.get(name, "").strip() for name in sorted(ENTITY_FIELDS)}
    if all(value == "*" for value in ids.values()):
        # Mem0: all four '*' is the whole project. Every memory has at least one entity id,
        # so "any of them set" selects exactly that, and the filter stays entity-scoped.
        clauses.append({"OR": [{name: "*"} for name in ids]})
    else:
        clauses.extend({name: value} for name, value in ids.items() if value)
    if query.get("filters", "").strip():
        clauses.append(parse_loose_object(query["filters"], "filters"))
    if query.get("metadata", "").strip():
        clauses.append({"metadata": parse_loose_object(query["metadata"], "metadata")})
    return {"AND": clauses} if clauses else {}


class MemoriesRootApi(MemoryApiView):
    """/v1/memories/: DELETE is Mem0's delete_all; POST and GET are the 1.x client's add
    and list (see memory/api/legacy.py)."""

    def delete(self, request: Request) -> Response:
        raw = delete_all_filter(self.query(request))
        if not raw:
            raise InvalidInput(
                "delete_all needs a filter: user_id, agent_id, app_id or run_id "
                "(use '*' for all values; all four '*' delete the whole project)."
            )
        filters = self.filters(raw, require_scope=True)
        count = memories_delete_matching(
            project=self.project, filters=filters, actor=self.principal.actor
        )
        return Response({"message": "Memories deleted successfully!", "deleted_count": count})

    def post(self, request: Request) -> Response:
        from memory.api.legacy import legacy_add

        return Response(legacy_add(self, request))

    def get(self, request: Request) -> Response:
        from memory.api.legacy import legacy_list_by_query

        return Response(legacy_list_by_query(self, request))
