"""`GET /v1/entities/` (users()) and `DELETE /v2/entities/{type}/{id}/` (delete_users(),
reset()): spec §5."""

from collections import Counter

from rest_framework.request import Request
from rest_framework.response import Response

from memory.api.common import MemoryApiView, check_clean
from memory.api.output import iso
from memory.selectors.entities import entities_list
from memory.services.bulk import entity_delete

ENTITY_TYPE_ALIASES = {"users": "user", "agents": "agent", "apps": "app", "runs": "run"}


class EntityListApi(MemoryApiView):
    def get(self, request: Request) -> Response:
        rows = entities_list(project=self.project)
        owner = str(self.project.organization_id)
        results = [
            {
                "id": row.stable_id(self.project.id),
                "name": row.name,
                "type": row.type,
                "created_at": iso(row.created_at),
                "updated_at": iso(row.updated_at),
                "owner": owner,
                "metadata": None,
                "total_memories": row.total_memories,
            }
            for row in rows
        ]
        totals = Counter(row.type for row in rows)
        return Response(
            {
                "count": len(results),
                "next": None,
                "previous": None,
                "results": results,
                "total_users": totals["user"],
                "total_agents": totals["agent"],
                "total_apps": totals["app"],
                "total_runs": totals["run"],
            }
        )


class EntityDeleteApi(MemoryApiView):
    def delete(self, request: Request, entity_type: str, entity_id: str) -> Response:
        check_clean([entity_type, entity_id], "path")
        kind = ENTITY_TYPE_ALIASES.get(entity_type, entity_type)
        count = entity_delete(
            project=self.project,
            entity_type=kind,
            entity_id=entity_id,
            actor=self.principal.actor,
        )
        return Response({"message": "Entity deleted successfully!", "deleted_count": count})
