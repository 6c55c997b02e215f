"""Writes of webhooks, and the emission hook the rest of Engram calls.

`webhook_emit` is the only entry point other apps need: call it inside the transaction of
the change it reports (the outbox row then commits or rolls back with the change) and the
delivery is enqueued after commit. Creating, changing and deleting a webhook is audited: a
webhook sends memory text out of Engram, so who pointed it where must be on the record.
"""

import json
import secrets
from collections.abc import Iterable, Sequence
from typing import Any, Protocol
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from config.errors import Conflict, InvalidInput
from integrations import conf
from integrations.delivery import delivery_enqueue, payload_context, secret_context
from integrations.models import EventType, Webhook, WebhookDelivery
from integrations.outbound import OutboundRefused, url_validate
from integrations.selectors import webhook_get, webhooks_subscribed
from integrations.signing import secret_generate
from memory.records import memory_subject
from tenants.keyring import encrypt
from tenants.models import Project

MEMORY_EVENTS = {"ADD": "memory_add", "UPDATE": "memory_update", "DELETE": "memory_delete"}


def event_types_validate(value: Any) -> list[str]:
    known = set(EventType.values)
    if not isinstance(value, list) or not value:
        raise InvalidInput("event_types: give a non-empty list of event types.")
    unknown = [item for item in value if item not in known]
    if unknown:
        raise InvalidInput(f"event_types: unknown {unknown!r}; known types are {sorted(known)!r}.")
    return sorted(set(value))


def webhook_url_validate(url: Any) -> str:
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("url: must be a non-empty string.")
    try:
        url_validate(url.strip())
    except OutboundRefused as exc:
        raise InvalidInput(f"url: {exc}.") from exc
    return url.strip()


def _audit(project: Project, actor: Actor, action: str, webhook: Webhook, **extra: Any) -> None:
    audit_record(
        org_id=project.organization_id,
        project_id=project.id,
        actor=actor,
        action=action,
        target_type="webhook",
        target_id=webhook.public_id,
        extra=extra,
    )


@transaction.atomic
def webhook_create(
    *, project: Project, actor: Actor, name: str, url: str, event_types: list[str]
) -> tuple[Webhook, str]:
    """A new active webhook and its signing secret (returned once, stored encrypted)."""
    if Webhook.objects.filter(project=project).count() >= conf.webhooks_per_project():
        raise Conflict(f"This project already has {conf.webhooks_per_project()} webhooks.")
    webhook = Webhook(
        project=project,
        public_id=f"wh_{secrets.token_hex(12)}",
        name=name,
        url=webhook_url_validate(url),
        event_types=event_types_validate(event_types),
        owner=actor.id,
    )
    secret = secret_generate()
    webhook.secret_ciphertext = encrypt(project.id, secret, secret_context(webhook.id))
    webhook.save()
    _audit(project, actor, "webhook.created", webhook, event_types=webhook.event_types)
    return webhook, secret


@transaction.atomic
def webhook_update(
    *,
    project: Project,
    webhook_id: str,
    actor: Actor,
    name: str | None = None,
    url: str | None = None,
    event_types: list[str] | None = None,
    is_active: bool | None = None,
) -> Webhook:
    """Only what is given changes (the Mem0 client sends the non-None keys)."""
    webhook = webhook_get(project=project, webhook_id=webhook_id, for_update=True)
    given = {"name": name, "event_types": event_types, "is_active": is_active, "url": url}
    changed = sorted(field for field, value in given.items() if value is not None)
    if url is not None:
        webhook.url = webhook_url_validate(url)
    if event_types is not None:
        webhook.event_types = event_types_validate(event_types)
    if name is not None:
        webhook.name = name
    if is_active is not None:
        webhook.is_active = is_active
    webhook.save()
    _audit(project, actor, "webhook.updated", webhook, fields=changed)
    return webhook


@transaction.atomic
def webhook_delete(*, project: Project, webhook_id: str, actor: Actor) -> None:
    """Deletes its delivery log too, queued payloads included (they hold memory text)."""
    webhook = webhook_get(project=project, webhook_id=webhook_id, for_update=True)
    _audit(project, actor, "webhook.deleted", webhook)
    WebhookDelivery.objects.filter(project=project, webhook=webhook).delete()
    webhook.delete()


def webhook_emit(
    *,
    project: Project,
    event_type: str,
    payload: dict[str, Any],
    user_id: str | None = None,
) -> list[WebhookDelivery]:
    """Queue `payload` for every active webhook of the project subscribed to `event_type`.

    Call it inside the transaction of the change (with its tenant context): the outbox rows
    commit with the change and the deliveries are enqueued after commit. `user_id` names
    the end user the payload is about; it is sealed with their key, so erasing them
    shreds undelivered payloads too. Costs one indexed query when nobody is subscribed.
    """
    if event_type not in EventType.values:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    webhooks = webhooks_subscribed(project_id=project.id, event_type=event_type)
    if not webhooks:
        return []
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
    now = timezone.now()
    deliveries = []
    for webhook in webhooks:
        delivery = WebhookDelivery(
            project=project,
            webhook=webhook,
            event_type=event_type,
            subject_user_id=user_id,
            next_attempt_at=now,
        )
        delivery.payload_ciphertext = encrypt(
            project.id, body, payload_context(delivery.id), subject=memory_subject(user_id)
        )
        deliveries.append(delivery)
    WebhookDelivery.objects.bulk_create(deliveries)
    for delivery in deliveries:
        transaction.on_commit(
            lambda d=delivery: delivery_enqueue(d.id, project.id)  # type: ignore[misc]
        )
    return deliveries


def webhook_deliveries_erase(*, project: Project, user_id: str) -> int:
    """GDPR erasure: drop the undelivered payloads about one end user (delivered ones were
    wiped already). Crypto-shredding their key makes them unreadable anyway; this removes
    the rows too. Call it inside the erasure's tenant transaction."""
    deleted, _ = WebhookDelivery.objects.filter(project=project, subject_user_id=user_id).delete()
    return deleted


class _MemoryLike(Protocol):
    id: UUID
    user_id: str | None


def memory_event_payload(memory_id: UUID | str, text: str | None, event: str) -> dict[str, Any]:
    """The Mem0 platform's webhook body for add, update and delete (spec §6.2)."""
    return {"event_details": {"id": str(memory_id), "data": {"memory": text}, "event": event}}


def memory_events_emit(
    *, project: Project, event: str, changes: Iterable[tuple[_MemoryLike, str | None]]
) -> int:
    """One webhook event per changed memory: `event` is ADD, UPDATE or DELETE and each
    change is `(memory, text)`. Returns how many deliveries were queued."""
    event_type = MEMORY_EVENTS[event]
    if not webhooks_subscribed(project_id=project.id, event_type=event_type):
        return 0
    queued = 0
    for memory, text in changes:
        payload = memory_event_payload(memory.id, text, event)
        queued += len(
            webhook_emit(
                project=project, event_type=event_type, payload=payload, user_id=memory.user_id
            )
        )
    return queued


def memory_categorize_emit(
    *, project: Project, memory: _MemoryLike, categories: Sequence[str]
) -> int:
    payload = {
        "event_details": {
            "event": "CATEGORIZE",
            "memory_id": str(memory.id),
            "categories": list(categories),
        }
    }
    return len(
        webhook_emit(
            project=project,
            event_type=EventType.MEMORY_CATEGORIZE,
            payload=payload,
            user_id=memory.user_id,
        )
    )


def ingest_job_emit(
    *, project: Project, job_id: UUID | str, succeeded: bool, error: str = "", **extra: Any
) -> int:
    """`ingest_job_completed` / `ingest_job_failed` for the pipeline (ids and counts only)."""
    event_type = EventType.INGEST_JOB_COMPLETED if succeeded else EventType.INGEST_JOB_FAILED
    details = {"event": event_type.value.upper(), "event_id": str(job_id), **extra}
    if error:
        details["error"] = error
    return len(
        webhook_emit(project=project, event_type=event_type, payload={"event_details": details})
    )
