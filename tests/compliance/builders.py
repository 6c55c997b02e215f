"""Plain builders for the compliance tests: content goes in through the public API where
an endpoint exists, and through the services' own encryption convention otherwise."""

from typing import Any
from uuid import UUID, uuid4

from audit.gdpr.fields import column_context
from audit.services import CLI_ACTOR
from memory.models import Entity, EntityMention, Memory, Relation, WorkingState
from tenants.context import tenant_context
from tenants.keyring import encrypt, keyed_hash
from tenants.models import Project
from tests.conftest import Tenant


def unique(prefix: str) -> str:
    return f"{prefix}{uuid4().hex[:12]}"


def api_ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.content[:500])
    return response.json()


def add_memory(tenant: Tenant, text: str, **scope: Any) -> str:
    """infer=false: the message is stored as a memory as it is."""
    body = {"messages": [{"role": "user", "content": text}], "infer": False, **scope}
    data = api_ok(tenant.client().post("/v3/memories/add/", body, format="json"))
    return str(data["results"][0]["id"])


def add_conversation(tenant: Tenant, text: str, **scope: Any) -> str:
    """infer=true: an episode and an ingestion job are stored before any worker runs."""
    body = {"messages": [{"role": "user", "content": text}], **scope}
    data = api_ok(tenant.client().post("/v3/memories/add/", body, format="json"))
    return str(data["event_id"])


def update_memory(tenant: Tenant, memory_id: str, **changes: Any) -> Any:
    return api_ok(tenant.client().put(f"/v1/memories/{memory_id}/", changes, format="json"))


def list_memories(tenant: Tenant, **filters: Any) -> list[dict[str, Any]]:
    body = {"filters": filters, "page_size": 100}
    return list(api_ok(tenant.client().post("/v3/memories/", body, format="json"))["results"])


def _sealed(row: Any, column: str, value: str, user_id: str | None) -> None:
    subject = f"user:{user_id}" if user_id else None
    setattr(
        row, column, encrypt(row.project_id, value, column_context(row, column), subject=subject)
    )


def make_working_state(
    project: Project, *, run_id: str, state: dict[str, Any], user_id: str | None = None
) -> WorkingState:
    """Through the working-memory service (the tier's API endpoint calls the same)."""
    from memory.services.tiers import working_state_put

    with tenant_context(project.id, project.organization_id):
        working_state_put(
            project=project, run_id=run_id, state=state, actor=CLI_ACTOR, user_id=user_id
        )
        return WorkingState.objects.get(project=project, run_id=run_id)


def make_entity_graph(
    project: Project, *, user_id: str, memory_id: str, names: tuple[str, str]
) -> tuple[Entity, Entity, Relation]:
    """Two entities of the user's scope mentioned by one memory, and a relation."""
    with tenant_context(project.id, project.organization_id):
        entities = []
        for name in names:
            entity = Entity(id=uuid4(), project=project, user_id=user_id, entity_type="thing")
            _sealed(entity, "name_ciphertext", name, user_id)
            entity.name_hash = keyed_hash(project.id, name, domain="entity")
            entity.save()
            EntityMention.objects.create(project=project, entity=entity, memory_id=memory_id)
            entities.append(entity)
        relation = Relation.objects.create(
            project=project,
            source=entities[0],
            relation="likes",
            target=entities[1],
            memory_id=memory_id,
        )
    return entities[0], entities[1], relation


def memory_row(project: Project, memory_id: str | UUID) -> Memory | None:
    with tenant_context(project.id, project.organization_id):
        return Memory.objects.filter(project=project, pk=memory_id).first()
