"""Reads of memory exports: by id, or the latest one made with the same filters."""

from typing import Any
from uuid import UUID

from django.db.models import Q, QuerySet
from django.utils import timezone

from config.errors import NotFound
from memory.models import MemoryExport
from memory.services.exports import canonical_filters, export_filters
from tenants.models import Project

EXPORT_NOT_FOUND = "No memory export request found"
# How many recent exports a lookup by filters compares (their filters are encrypted).
RECENT_EXPORTS_SCANNED = 200


def _live_exports(project: Project) -> QuerySet[MemoryExport]:
    now = timezone.now()
    return MemoryExport.objects.filter(project=project).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


def export_get(*, project: Project, export_id: Any) -> MemoryExport:
    try:
        key = UUID(str(export_id))
    except (ValueError, TypeError) as exc:
        raise NotFound(EXPORT_NOT_FOUND) from exc
    export = _live_exports(project).filter(pk=key).first()
    if export is None:
        raise NotFound(EXPORT_NOT_FOUND)
    return export


def export_latest_for_filters(*, project: Project, raw_filters: dict[str, Any]) -> MemoryExport:
    wanted = canonical_filters(raw_filters)
    for export in _live_exports(project).order_by("-created_at")[:RECENT_EXPORTS_SCANNED]:
        stored = export_filters(export)
        if stored is not None and canonical_filters(stored) == wanted:
            return export
    raise NotFound(EXPORT_NOT_FOUND)
