"""Organizations, projects, staff roles, API keys and the per-project key ring."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    COMPLIANCE = "compliance", "Compliance officer"
    VIEWER = "viewer", "Viewer"


class Scope(models.TextChoices):
    READ = "read", "Read memories"
    WRITE = "write", "Add and update memories"
    DELETE = "delete", "Delete memories"
    ADMIN = "admin", "Project settings, exports and erasure"


ALL_SCOPES = [scope.value for scope in Scope]


class Organization(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Project(models.Model):
    """The tenant: every memory, key, job and audit event belongs to exactly one project."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="projects"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    custom_instructions = models.TextField(blank=True, default="")
    agent_custom_instructions = models.TextField(blank=True, default="")
    # Mem0 shape: a list of one-key objects {name: description} (or plain names).
    custom_categories = models.JSONField(null=True, blank=True)
    options = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="project_name_unique_in_org"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique")
        ]


class ApiKey(models.Model):
    """Only a keyed hash of the secret is stored; the full key is shown once at creation."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    key_id = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    scopes = ArrayField(models.CharField(max_length=20), default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "created_at"], name="apikey_project_created")]

    @property
    def prefix(self) -> str:
        return f"eng_{self.key_id}"


class DataKey(models.Model):
    """A wrapped AES-256 key of the key ring. Purpose `data` encrypts content, `index` keys
    the blind index, `subject` encrypts one end user's content so erasure can shred it."""

    class Purpose(models.TextChoices):
        DATA = "data"
        INDEX = "index"
        SUBJECT = "subject"

    class State(models.TextChoices):
        ACTIVE = "active"
        RETIRED = "retired"
        DESTROYED = "destroyed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="data_keys")
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    # HMAC of the subject ("user:<id>") for subject keys, empty otherwise: no raw ids here.
    subject_ref = models.CharField(max_length=64, blank=True, default="")
    version = models.PositiveIntegerField()
    wrapped_key = models.BinaryField(null=True)
    kek_id = models.CharField(max_length=32)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "purpose", "subject_ref", "version"],
                name="datakey_version_unique",
            )
        ]
