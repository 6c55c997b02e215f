"""`PUT /v1/batch/` and `DELETE /v1/batch/` (spec §4.10): all or nothing, at most 1000."""

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from memory.api.common import MemoryApiView, metadata_field
from memory.selectors.memories import parse_memory_id
from memory.services.bulk import (
    MAX_BATCH,
    BatchUpdate,
    memories_batch_delete,
    memories_batch_update,
)
from memory.services.memories import validate_text


class BatchUpdateItem(serializers.Serializer):
    memory_id = serializers.CharField(max_length=100)
    text = serializers.CharField(required=False, allow_null=True, trim_whitespace=False)
    metadata = metadata_field()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("text") is None and attrs.get("metadata") is None:
            raise serializers.ValidationError("give text or metadata to change.")
        return attrs


class BatchDeleteItem(serializers.Serializer):
    memory_id = serializers.CharField(max_length=100)


def _batch_of(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    class BatchInput(serializers.Serializer):
        memories = serializers.ListField(child=item(), allow_empty=False, max_length=MAX_BATCH)

    return BatchInput


BatchUpdateInput = _batch_of(BatchUpdateItem)
BatchDeleteInput = _batch_of(BatchDeleteItem)


class MemoryBatchApi(MemoryApiView):
    def put(self, request: Request) -> Response:
        data = self.parse(BatchUpdateInput, self.body(request))
        items = [
            BatchUpdate(
                memory_id=parse_memory_id(entry["memory_id"]),
                text=validate_text(entry["text"]) if entry.get("text") is not None else None,
                metadata=entry.get("metadata"),
            )
            for entry in data["memories"]
        ]
        count = memories_batch_update(project=self.project, items=items, actor=self.principal.actor)
        return Response({"message": f"Successfully updated {count} memories"})

    def delete(self, request: Request) -> Response:
        data = self.parse(BatchDeleteInput, self.body(request))
        ids = [parse_memory_id(entry["memory_id"]) for entry in data["memories"]]
        count = memories_batch_delete(
            project=self.project, memory_ids=ids, actor=self.principal.actor
        )
        return Response({"message": f"Successfully deleted {count} memories"})
