"""The append-only, hash-chained audit log: one chain per project (and one per organization
for events that belong to no project, such as a staff login)."""

import uuid

from django.db import models


class AuditChainHead(models.Model):
    """The last link of a chain; locked FOR UPDATE to serialise appends to that chain."""

    chain_id = models.UUIDField(primary_key=True)
    org_id = models.UUIDField()
    project_id = models.UUIDField(null=True)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)


class AuditEvent(models.Model):
    """Never updated, never deleted: the application role may only INSERT and SELECT, and
    triggers refuse UPDATE, DELETE and TRUNCATE for everyone. No memory content in here."""

    id = models.BigAutoField(primary_key=True)
    chain_id = models.UUIDField()
    seq = models.BigIntegerField()
    org_id = models.UUIDField()
    project_id = models.UUIDField(null=True)
    occurred_at = models.DateTimeField()
    actor_type = models.CharField(max_length=20)
    actor_id = models.CharField(max_length=200)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=40, blank=True, default="")
    target_id = models.CharField(max_length=200, blank=True, default="")
    request_id = models.CharField(max_length=64, blank=True, default="")
    extra = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "seq"], name="audit_chain_seq_unique")
        ]
        indexes = [
            models.Index(fields=["project_id", "occurred_at"], name="audit_project_time"),
            models.Index(fields=["org_id", "occurred_at"], name="audit_org_time"),
            models.Index(fields=["project_id", "action"], name="audit_project_action"),
        ]


# --- compliance: retention, legal holds, data-subject requests, signed checkpoints ----------


class SubjectType(models.TextChoices):
    USER = "user"
    AGENT = "agent"
    RUN = "run"


class RetentionPolicy(models.Model):
    """How long each kind of data lives in one project. Every duration is finite (GDPR
    storage limitation): a project without a row gets the defaults below."""

    project = models.OneToOneField(
        "tenants.Project", on_delete=models.CASCADE, related_name="+", primary_key=True
    )
    long_term_seconds = models.BigIntegerField(default=365 * 86400)
    episodic_seconds = models.BigIntegerField(default=90 * 86400)
    working_state_seconds = models.BigIntegerField(default=90 * 86400)
    short_term_seconds = models.BigIntegerField(default=86400)
    ingestion_payload_seconds = models.BigIntegerField(default=30 * 86400)
    export_seconds = models.BigIntegerField(default=7 * 86400)
    # How long a memory past its Mem0 `expiration_date` stays (visible to show_expired).
    expired_grace_seconds = models.BigIntegerField(default=0)
    # {"category name": seconds} and {"agent id": seconds}: the shortest matching rule wins.
    category_rules = models.JSONField(default=dict)
    agent_rules = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=200, blank=True, default="")


class LegalHold(models.Model):
    """While active (released_at is null), nothing it covers is deleted: neither by the
    retention sweeper nor by an erasure request."""

    class Scope(models.TextChoices):
        PROJECT = "project"
        USER = "user"
        AGENT = "agent"
        RUN = "run"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("tenants.Project", on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=10, choices=Scope.choices)
    subject_id = models.CharField(max_length=255, blank=True, default="")
    subject_hash = models.CharField(max_length=64, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    placed_by = models.CharField(max_length=200)
    placed_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "scope", "subject_hash"],
                condition=models.Q(released_at__isnull=True),
                name="legal_hold_one_active",
            )
        ]


class DataSubjectRequest(models.Model):
    """A GDPR export (Art. 15/20) or erasure (Art. 17) request for one end user, agent or
    session. The raw subject id is kept only until an erasure of that subject finishes."""

    class Kind(models.TextChoices):
        EXPORT = "export"
        ERASURE = "erasure"

    class Status(models.TextChoices):
        RECEIVED = "received"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("tenants.Project", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    subject_type = models.CharField(max_length=10, choices=SubjectType.choices)
    subject_id = models.CharField(max_length=255, blank=True, default="")
    # Keyed hash of "type:id": what remains of the subject's identity after erasure.
    subject_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    requested_by = models.CharField(max_length=200)
    received_at = models.DateTimeField()
    due_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict)
    error = models.TextField(blank=True, default="")
    export_ciphertext = models.TextField(null=True, blank=True)
    export_bytes = models.BigIntegerField(null=True, blank=True)
    export_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "received_at"], name="dsr_project_received"),
            models.Index(fields=["project", "status", "due_at"], name="dsr_project_due"),
            models.Index(fields=["project", "subject_hash"], name="dsr_project_subject"),
        ]


class AuditCheckpoint(models.Model):
    """An Ed25519 signature over a chain's head at one moment. The private key is not in
    the database, so an owner who rewrites history and recomputes every hash still cannot
    produce a checkpoint that matches the rewritten chain."""

    id = models.BigAutoField(primary_key=True)
    chain_id = models.UUIDField()
    org_id = models.UUIDField()
    project_id = models.UUIDField(null=True)
    seq = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    signed_at = models.DateTimeField()
    key_id = models.CharField(max_length=32)
    signature = models.CharField(max_length=128)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "seq"], name="checkpoint_chain_seq_unique")
        ]
