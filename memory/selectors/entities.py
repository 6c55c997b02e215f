"""Reads of entities in Mem0's sense: each distinct user, agent, app or run id that has at
least one active memory in the project (spec §5.1)."""

from dataclasses import dataclass
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from django.db.models import Count, Max, Min

from memory.models import Memory, MemoryState
from tenants.models import Project

ENTITY_TYPES = {"user": "user_id", "agent": "agent_id", "app": "app_id", "run": "run_id"}


@dataclass(frozen=True)
class EntityRow:
    type: str
    name: str
    total_memories: int
    created_at: datetime
    updated_at: datetime

    def stable_id(self, project_id: UUID) -> str:
        # Entities are not rows of their own: derive an id that stays the same per name.
        return str(uuid5(NAMESPACE_URL, f"engram:{project_id}:{self.type}:{self.name}"))


def entities_list(*, project: Project) -> list[EntityRow]:
    rows: list[EntityRow] = []
    for entity_type, column in ENTITY_TYPES.items():
        grouped = (
            Memory.objects.filter(project=project, state=MemoryState.ACTIVE)
            .exclude(**{f"{column}__isnull": True})
            .values(column)
            .annotate(total=Count("id"), first=Min("created_at"), last=Max("updated_at"))
            .order_by(column)
        )
        rows.extend(
            EntityRow(entity_type, item[column], item["total"], item["first"], item["last"])
            for item in grouped
        )
    return rows
