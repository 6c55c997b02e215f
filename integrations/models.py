"""Webhooks and their delivery outbox. Both tables lead with `project_id` and sit under
row-level security; the signing secret and every payload (which holds memory text) are
key-ring ciphertexts, never plaintext."""

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models

from tenants.models import Project


class EventType(models.TextChoices):
    MEMORY_ADD = "memory_add"
    MEMORY_UPDATE = "memory_update"
    MEMORY_DELETE = "memory_delete"
    MEMORY_CATEGORIZE = "memory_categorize"
    INGEST_JOB_COMPLETED = "ingest_job_completed"
    INGEST_JOB_PARTIALLY_COMPLETED = "ingest_job_partially_completed"
    INGEST_JOB_FAILED = "ingest_job_failed"
    INGEST_JOB_CANCELLED = "ingest_job_cancelled"
    EXPORT_READY = "export_ready"


class Webhook(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    # The id on the wire ("wh_..."): URL-safe, because the Mem0 client does not encode it.
    public_id = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    url = models.CharField(max_length=2000)
    event_types = ArrayField(models.CharField(max_length=40), default=list)
    secret_ciphertext = models.TextField()
    owner = models.CharField(max_length=200, blank=True, default="")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "public_id"], name="webhook_public_id")
        ]
        indexes = [models.Index(fields=["project", "created_at"], name="webhook_project")]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # waiting for its first attempt or its next retry
    SENDING = "sending"  # claimed by a worker
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # attempts used up, or the target is refused


class WebhookDelivery(models.Model):
    """The outbox row, written in the transaction of the change it reports. The payload
    ciphertext is wiped once delivered or given up: the log keeps only the bookkeeping."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=40)
    payload_ciphertext = models.TextField(null=True)
    # The end user whose key sealed the payload ("" for none): erasure shreds it with theirs.
    subject_user_id = models.CharField(max_length=255, null=True)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True)
    last_attempt_at = models.DateTimeField(null=True)
    response_code = models.PositiveIntegerField(null=True)
    duration_ms = models.PositiveIntegerField(null=True)
    # Why the last attempt failed, in our words (never the receiver's body).
    last_error = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "webhook", "created_at"], name="delivery_webhook"),
            models.Index(
                fields=["project", "next_attempt_at"],
                name="delivery_open",
                condition=models.Q(status__in=["pending", "sending"]),
            ),
        ]
