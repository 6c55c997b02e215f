"""Mem0's EXTRA endpoints: exports (§4.11), summary (§4.12) and feedback (§4.13)."""

import json
from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import InvalidInput
from memory.api.common import MemoryApiView, instructions_field, object_field
from memory.selectors.exports import export_get, export_latest_for_filters
from memory.selectors.memories import parse_memory_id
from memory.services.exports import export_result, memory_export_create
from memory.services.feedback import feedback_value, memory_feedback_set
from memory.services.summary import memories_summary

EXPORT_ACCEPTED = "Memory export request received. The export will be ready in a few seconds."


class SchemaField(serializers.Field):
    """The client types `schema` as str, the docs send an object: accept both."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise serializers.ValidationError("expected a JSON Schema object.") from exc
        if not isinstance(data, dict):
            raise serializers.ValidationError("expected a JSON Schema object.")
        if len(json.dumps(data)) > 100_000:
            raise serializers.ValidationError("larger than 100000 characters.")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class ExportCreateApi(MemoryApiView):
    """POST /v1/exports/: admin scope, as exports can read a whole project."""

    required_scopes = {"POST": "admin"}

    class Input(serializers.Serializer):
        schema = SchemaField()
        filters = object_field()
        export_instructions = instructions_field()

    def post(self, request: Request) -> Response:
        data = self.parse(self.Input, self.body(request))
        raw = data.get("filters") or {}
        export = memory_export_create(
            project=self.project,
            schema=data["schema"],
            raw_filters=raw,
            filters=self.filters(raw, require_scope=False),
            instructions=data.get("export_instructions") or None,
            actor=self.principal.actor,
        )
        return Response(
            {"message": EXPORT_ACCEPTED, "id": str(export.id), "status": export.status}, status=201
        )


class ExportGetApi(MemoryApiView):
    """POST /v1/exports/get/: by `memory_export_id`, or the latest with these `filters`."""

    required_scopes = {"POST": "admin"}

    class Input(serializers.Serializer):
        memory_export_id = serializers.CharField(required=False, allow_null=True, max_length=100)
        filters = object_field()

    def post(self, request: Request) -> Response:
        data = self.parse(self.Input, self.body(request))
        if data.get("memory_export_id"):
            export = export_get(project=self.project, export_id=data["memory_export_id"])
        elif data.get("filters") is not None:
            export = export_latest_for_filters(project=self.project, raw_filters=data["filters"])
        else:
            raise InvalidInput("Give memory_export_id or the filters of an earlier export.")
        return Response(export_result(export))


class SummaryApi(MemoryApiView):
    required_scopes = {"POST": "read"}

    class Input(serializers.Serializer):
        filters = object_field()

    def post(self, request: Request) -> Response:
        data = self.parse(self.Input, self.body(request))
        if not data.get("filters"):
            raise InvalidInput('filters: required, e.g. {"user_id": "alice"}.')
        filters = self.filters(data["filters"])
        return Response(memories_summary(project=self.project, filters=filters))


class FeedbackApi(MemoryApiView):
    class Input(serializers.Serializer):
        memory_id = serializers.CharField(max_length=100)
        feedback = serializers.CharField(required=False, allow_null=True, allow_blank=True)
        feedback_reason = serializers.CharField(
            required=False, allow_null=True, allow_blank=True, max_length=5000
        )

    def post(self, request: Request) -> Response:
        data = self.parse(self.Input, self.body(request))
        memory = memory_feedback_set(
            project=self.project,
            memory_id=parse_memory_id(data["memory_id"]),
            feedback=feedback_value(data.get("feedback")),
            actor=self.principal.actor,
        )
        reason = data.get("feedback_reason") if memory.feedback else None
        return Response(
            {"id": str(memory.id), "feedback": memory.feedback, "feedback_reason": reason}
        )
