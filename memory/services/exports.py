"""Mem0 structured memory exports (`POST /v1/exports/`, spec §4.11).

The export is computed when it is created (no LLM involved), so it is SUCCEEDED by the
time the client asks for it. Its filter and result are stored encrypted: both can hold
user content. How the schema is filled without a model is described in
`memory/services/export_schema.py`.
"""

import json
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from memory.filters import ParsedFilters
from memory.models import MemoryExport
from memory.records import field, open_json, open_text, seal, seal_json
from memory.selectors.memories import Visibility, memories_matching
from memory.services.export_schema import schema_fill
from tenants.models import Project

EXPORT_TABLE = "memory_memoryexport"
EXPORT_LIFETIME = timedelta(days=30)
MAX_EXPORTED_MEMORIES = 5000


def canonical_filters(raw: dict[str, Any]) -> str:
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@transaction.atomic
def memory_export_create(
    *,
    project: Project,
    schema: dict[str, Any],
    raw_filters: dict[str, Any],
    filters: ParsedFilters,
    instructions: str | None,
    actor: Actor,
) -> MemoryExport:
    export = MemoryExport(
        project=project, schema=schema, expires_at=timezone.now() + EXPORT_LIFETIME
    )
    rows = memories_matching(
        project=project, filters=filters, visibility=Visibility(), limit=MAX_EXPORTED_MEMORIES
    )
    result = schema_fill(schema, [record for _, record in rows])
    export.filters = {
        "ciphertext": seal_json(project.id, raw_filters, field(export.id, "filters", EXPORT_TABLE))
    }
    export.result_ciphertext = seal_json(
        project.id, result, field(export.id, "result", EXPORT_TABLE)
    )
    if instructions:
        export.instructions_ciphertext = seal(
            project.id, instructions, field(export.id, "instructions", EXPORT_TABLE)
        )
    export.status = MemoryExport.Status.SUCCEEDED
    export.save()
    audit_record(
        org_id=project.organization_id,
        project_id=project.id,
        actor=actor,
        action="memory_export.created",
        target_type="memory_export",
        target_id=str(export.id),
        extra={"count": len(rows)},
    )
    return export


def export_result(export: MemoryExport) -> Any:
    return open_json(
        export.project_id, export.result_ciphertext, field(export.id, "result", EXPORT_TABLE)
    )


def export_filters(export: MemoryExport) -> dict[str, Any] | None:
    token = (export.filters or {}).get("ciphertext")
    value = open_json(export.project_id, token, field(export.id, "filters", EXPORT_TABLE))
    return value if isinstance(value, dict) else None


def export_instructions(export: MemoryExport) -> str | None:
    return open_text(
        export.project_id,
        export.instructions_ciphertext,
        field(export.id, "instructions", EXPORT_TABLE),
    )
