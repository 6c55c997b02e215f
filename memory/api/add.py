"""`POST /v3/memories/add/` (spec §4.2) and the 1.x client's `POST /v1/memories/`.

infer=false stores each non-system message as a memory at once; infer=true (the default)
hands the conversation to the ingestion pipeline and answers PENDING with an event id.
"""

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import InvalidInput
from memory.api.common import (
    CategoriesCatalogField,
    MemoryApiView,
    MessagesField,
    TimestampField,
    entity_id_field,
    flag_field,
    instructions_field,
    metadata_field,
    object_field,
)
from memory.api.output import add_result, event_result
from memory.services.direct import DirectAddOptions, memories_add_direct
from memory.services.memories import MemoryScope

QUEUED_MESSAGE = "Memory processing has been queued for background execution"
STORED_MESSAGE = "Memories stored successfully"
ENTITY_ORDER = ("user_id", "agent_id", "app_id", "run_id")


class AddInput(serializers.Serializer):
    messages = MessagesField()
    user_id = entity_id_field()
    agent_id = entity_id_field()
    app_id = entity_id_field()
    run_id = entity_id_field()
    filters = object_field()
    metadata = metadata_field()
    infer = flag_field(True)
    immutable = flag_field(False)
    custom_categories = CategoriesCatalogField(required=False, allow_null=True)
    custom_instructions = instructions_field()
    agent_custom_instructions = instructions_field()
    includes = instructions_field()
    excludes = instructions_field()
    timestamp = TimestampField(required=False, allow_null=True)
    expiration_date = serializers.DateField(
        required=False, allow_null=True, input_formats=["%Y-%m-%d", "iso-8601"]
    )


def _scope(view: MemoryApiView, data: dict[str, Any]) -> MemoryScope:
    """Entity ids come at the top level (keyword arguments) or inside `filters` (newer
    docs); both at once must agree."""
    ids: dict[str, str | None] = {name: data.get(name) for name in ENTITY_ORDER}
    if data.get("filters"):
        pinned = view.filters(data["filters"], require_scope=False).entity_equalities
        for name, pinned_value in pinned.items():
            if ids.get(name) not in (None, pinned_value):
                raise InvalidInput(f"{name}: differs between the top level and filters.")
            ids[name] = pinned_value
    for name, value in ids.items():
        if value == "*":
            raise InvalidInput(f"{name}: '*' selects memories; it cannot own a new one.")
    scope = MemoryScope(**{name: value or None for name, value in ids.items()})
    if scope.is_empty():
        raise InvalidInput(
            "At least one of user_id, agent_id, app_id or run_id is required "
            "(at the top level or in filters)."
        )
    return scope


def _ingestion_options(data: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe options for the pipeline (they are stored encrypted with the job)."""
    keys = (
        "metadata",
        "custom_categories",
        "custom_instructions",
        "agent_custom_instructions",
        "includes",
        "excludes",
        "immutable",
    )
    options = {key: data[key] for key in keys if data.get(key) is not None}
    if data.get("timestamp") is not None:
        options["timestamp"] = data["timestamp"].isoformat()
    if data.get("expiration_date") is not None:
        options["expiration_date"] = data["expiration_date"].isoformat()
    return options


class MemoryAddApi(MemoryApiView):
    """Mem0 `client.add(messages, user_id=..., infer=...)`."""

    def post(self, request: Request) -> Response:
        data = self.parse(AddInput, self.body(request))
        return Response(memory_add(self, request, data))


def memory_add(view: MemoryApiView, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    scope = _scope(view, data)
    if data.get("infer") is False:
        return _add_direct(view, scope, data)
    # Imported here: the pipeline module pulls in the extractor stack, which only adds
    # with inference need.
    from memory.services.ingestion import ingestion_accept

    job = ingestion_accept(
        project=view.project,
        scope=scope,
        messages=data["messages"],
        options=_ingestion_options(data),
        actor=view.principal.actor,
        idempotency_key=_idempotency_key(request),
    )
    if job.status == job.Status.PENDING:
        return {
            "event_id": str(job.id),
            "status": "PENDING",
            "message": QUEUED_MESSAGE,
            "results": [],
        }
    # A replay of an earlier call (same Idempotency-Key): answer with what it produced.
    return event_result(view.project, job)


def _add_direct(view: MemoryApiView, scope: MemoryScope, data: dict[str, Any]) -> dict[str, Any]:
    result = memories_add_direct(
        project=view.project,
        scope=scope,
        messages=data["messages"],
        options=DirectAddOptions(
            metadata=data.get("metadata") or None,
            custom_categories=data.get("custom_categories"),
            expiration_date=data.get("expiration_date"),
            created_at=data.get("timestamp"),
            immutable=bool(data.get("immutable")),
        ),
        actor=view.principal.actor,
    )
    return {
        "message": STORED_MESSAGE,
        "status": "SUCCEEDED",
        "event_id": str(result.event.id),
        "results": [add_result(change) for change in result.changes],
    }


def _idempotency_key(request: Request) -> str | None:
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if not key:
        return None
    if len(key) > 200:
        raise InvalidInput("Idempotency-Key: at most 200 characters.")
    return key
