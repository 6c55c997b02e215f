"""Mem0 feedback on a memory (`POST /v1/feedback/`): POSITIVE, NEGATIVE, VERY_NEGATIVE, or
null to clear it. The reason text is user content: it is echoed back but not stored, and
never written to the audit log."""

from typing import Any

from django.db import transaction

from audit.services import Actor, audit_record
from config.errors import InvalidInput
from memory.models import Memory
from memory.services.memories import memory_get_for_update
from tenants.models import Project

FEEDBACK_VALUES = ("POSITIVE", "NEGATIVE", "VERY_NEGATIVE")


def feedback_value(raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    value = str(raw).strip().upper()
    if value not in FEEDBACK_VALUES:
        raise InvalidInput(f"feedback: must be one of {', '.join(FEEDBACK_VALUES)} or null.")
    return value


@transaction.atomic
def memory_feedback_set(
    *, project: Project, memory_id: Any, feedback: str | None, actor: Actor
) -> Memory:
    memory = memory_get_for_update(project=project, memory_id=memory_id)
    Memory.objects.filter(project=project, pk=memory.pk).update(feedback=feedback)
    memory.feedback = feedback
    audit_record(
        org_id=project.organization_id,
        project_id=project.id,
        actor=actor,
        action="memory.feedback_set" if feedback else "memory.feedback_cleared",
        target_type="memory",
        target_id=str(memory.id),
        extra={"feedback": feedback},
    )
    return memory
