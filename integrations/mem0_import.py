"""Importing memories exported from Mem0 (the platform or the OSS library).

Accepted input, detected from the content:
- the list API's JSON: `{"results": [record, ...], ...}` (v2/v3 get_all, one page or all);
- a plain JSON array of records (v1 get_all, the dashboard's export);
- `{"memories": [...]}`, and JSON Lines (one record per line).

A record needs `memory` (or `text`) and at least one of user_id, agent_id, app_id, run_id;
metadata, categories, created_at, expiration_date and immutable are kept. Records are
stored through the normal write path (encrypted, embedded, indexed, versioned, audited) in
batches, each in its own transaction; exact duplicates are not stored twice, so an
interrupted import can simply be run again.
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime

from audit.services import Actor
from config.errors import EngramError
from memory.services.memories import MemoryScope, NewMemory, memories_create, validate_text
from tenants.context import tenant_context
from tenants.models import Project

BATCH_SIZE = 100
SCOPE_FIELDS = ("user_id", "agent_id", "app_id", "run_id")


class ImportFormatError(ValueError):
    """The file is not a Mem0 export this importer understands."""


@dataclass
class ImportReport:
    read: int = 0
    imported: int = 0
    duplicates: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    def skip(self, index: int, reason: str) -> None:
        self.skipped += 1
        if len(self.problems) < 20:
            self.problems.append(f"record {index}: {reason}")


def records_load(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(data, dict):
        data = data.get("results", data.get("memories"))
    if not isinstance(data, list):
        raise ImportFormatError("expected a list of memories, or an object with 'results'")
    return [item for item in data if isinstance(item, dict)]


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = parse_datetime(value)
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _day(value: Any) -> date | None:
    return parse_date(value[:10]) if isinstance(value, str) and value else None


def record_parse(record: dict[str, Any]) -> tuple[MemoryScope, NewMemory]:
    """One Mem0 record as what memories_create takes (raises EngramError when unusable)."""
    text = validate_text(record.get("memory") or record.get("text"), field_name="memory")
    ids = {name: str(record[name]) for name in SCOPE_FIELDS if record.get(name)}
    scope = MemoryScope(**ids)
    if scope.is_empty():
        raise ImportFormatError("no user_id, agent_id, app_id or run_id")
    metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else None
    categories = record.get("categories") if isinstance(record.get("categories"), list) else None
    item = NewMemory(
        text=text,
        metadata=metadata or None,
        categories=[str(name)[:100] for name in categories] if categories else None,
        kind="imported",
        immutable=bool(record.get("immutable", False)),
        expiration_date=_day(record.get("expiration_date")),
        created_at=_when(record.get("created_at")),
    )
    return scope, item


def _batches(
    records: list[dict[str, Any]], report: ImportReport
) -> Iterator[tuple[MemoryScope, list[NewMemory]]]:
    """Consecutive records of one scope, at most BATCH_SIZE at a time."""
    scope: MemoryScope | None = None
    batch: list[NewMemory] = []
    for index, record in enumerate(records):
        report.read += 1
        try:
            record_scope, item = record_parse(record)
        except (EngramError, ImportFormatError) as exc:
            report.skip(index, str(getattr(exc, "message", exc)))
            continue
        if batch and (record_scope != scope or len(batch) >= BATCH_SIZE):
            yield scope, batch  # type: ignore[misc]
            batch = []
        scope = record_scope
        batch.append(item)
    if batch and scope is not None:
        yield scope, batch


def mem0_import(
    *,
    project: Project,
    records: list[dict[str, Any]],
    actor: Actor,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    report = ImportReport()
    for scope, batch in _batches(records, report):
        if dry_run:
            report.imported += len(batch)  # valid; duplicates are only known by storing
        else:
            with tenant_context(project.id, project.organization_id):
                changes = memories_create(project=project, scope=scope, items=batch, actor=actor)
            added = sum(1 for change in changes if change.event == "ADD")
            report.imported += added
            report.duplicates += len(batch) - added
        if progress is not None:
            progress(len(batch))
    return report
