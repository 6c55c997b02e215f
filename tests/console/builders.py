"""Builders for console tests: staff accounts with a role, memories with history, jobs."""

import uuid
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User

from audit.services import CLI_ACTOR
from memory.models import Episode, IngestionJob, Memory
from memory.records import field, seal_json
from memory.services.memories import MemoryScope, NewMemory, memories_create, memory_update
from tenants.context import tenant_context
from tenants.models import Organization, Project
from tenants.services import membership_set

PASSWORD = "correct horse battery staple 42"


@dataclass
class Staff:
    user: User
    email: str
    password: str = PASSWORD


def make_staff(organization: Organization, role: str, email: str | None = None) -> Staff:
    email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    user = User.objects.filter(username=email).first() or User.objects.create_user(
        username=email, email=email, password=PASSWORD
    )
    membership_set(organization=organization, user=user, role=role, actor=CLI_ACTOR)
    return Staff(user=user, email=email)


def _vector(seed: str) -> np.ndarray:
    rng = np.random.default_rng(abs(hash(seed)) % (2**32))
    vector = rng.normal(size=settings.ENGRAM_EMBEDDING_DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def make_memory(
    project: Project,
    text: str,
    *,
    user_id: str | None = "alice",
    agent_id: str | None = None,
    run_id: str | None = None,
    categories: list[str] | None = None,
    embed: bool = False,
) -> Memory:
    """A stored memory; `embed=False` gives it a random vector (no model needed)."""
    item = NewMemory(text=text, categories=categories, embedding=None if embed else _vector(text))
    scope = MemoryScope(user_id=user_id, agent_id=agent_id, run_id=run_id)
    with tenant_context(project.id, project.organization_id):
        change = memories_create(project=project, scope=scope, items=[item], actor=CLI_ACTOR)[0]
    return change.memory


def update_memory(project: Project, memory: Memory, text: str) -> None:
    with tenant_context(project.id, project.organization_id):
        memory_update(project=project, memory_id=memory.id, text=text, actor=CLI_ACTOR)


def make_failed_job(project: Project, reason: str = "extractor timed out") -> IngestionJob:
    episode_id = uuid.uuid4()
    messages = [{"role": "user", "content": "I just moved to Lisbon."}]
    context = field(episode_id, "messages", "memory_episode")
    with tenant_context(project.id, project.organization_id):
        episode = Episode.objects.create(
            id=episode_id,
            project=project,
            user_id="alice",
            message_count=1,
            messages_ciphertext=seal_json(project.id, messages, context, "alice"),
        )
        return IngestionJob.objects.create(
            project=project,
            episode=episode,
            status=IngestionJob.Status.FAILED,
            attempts=5,
            max_attempts=5,
            error=reason,
        )
