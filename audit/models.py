"""The append-only, hash-chained audit log: one chain per project (and one per organization
for events that belong to no project, such as a staff login)."""

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
