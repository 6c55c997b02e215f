"""Memories and everything around them. Every table leads with `project_id` (row-level
security and future partitioning by project); every field holding user content is a
key-ring ciphertext (`*_ciphertext`), never plaintext."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from pgvector.django import HnswIndex, VectorField

from tenants.models import Project


class MemoryState(models.TextChoices):
    ACTIVE = "active"
    SUPERSEDED = "superseded"  # replaced by a newer fact; kept with its confidence and times
    DELETED = "deleted"  # invalidated; its history remains readable


class Episode(models.Model):
    """One `add` call's conversation, kept whole (encrypted) so context can be rebuilt and
    nothing a client sent is ever lost, even when extraction fails."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    user_id = models.CharField(max_length=255, null=True)
    agent_id = models.CharField(max_length=255, null=True)
    app_id = models.CharField(max_length=255, null=True)
    run_id = models.CharField(max_length=255, null=True)
    messages_ciphertext = models.TextField()
    message_count = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "user_id", "created_at"], name="episode_user"),
            models.Index(fields=["project", "run_id", "created_at"], name="episode_run"),
            models.Index(fields=["project", "agent_id", "created_at"], name="episode_agent"),
        ]


class Memory(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    user_id = models.CharField(max_length=255, null=True)
    agent_id = models.CharField(max_length=255, null=True)
    app_id = models.CharField(max_length=255, null=True)
    run_id = models.CharField(max_length=255, null=True)
    text_ciphertext = models.TextField()
    # Keyed hash of the normalised text: exact-duplicate detection without plaintext.
    content_hash = models.CharField(max_length=64)
    metadata_ciphertext = models.TextField(null=True)
    # Keyed hashes of "key=value" metadata pairs, so equality filters run in SQL.
    metadata_hashes = ArrayField(models.CharField(max_length=64), default=list)
    categories = ArrayField(models.CharField(max_length=100), null=True)
    # Null once deleted: an embedding is as sensitive as the text it came from.
    embedding = VectorField(dimensions=settings.ENGRAM_EMBEDDING_DIM, null=True)
    state = models.CharField(max_length=12, choices=MemoryState.choices, default="active")
    replaced_by = models.ForeignKey("self", null=True, on_delete=models.SET_NULL, related_name="+")
    attributed_to = models.CharField(max_length=12, default="user")
    kind = models.CharField(max_length=32, default="fact")
    subject_key = models.CharField(max_length=100, null=True)
    importance = models.FloatField(default=0.5)
    confidence = models.FloatField(default=1.0)
    immutable = models.BooleanField(default=False)
    expiration_date = models.DateField(null=True)
    source_episode = models.ForeignKey(
        Episode, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    token_count = models.PositiveIntegerField(default=0)
    # The text asks something ("?"): in a conversation, the next turn is then its answer
    # (retrieval/context.py). Kept beside the ciphertext so search needs no decryption.
    asks_question = models.BooleanField(default=False, db_default=False)
    feedback = models.CharField(max_length=16, null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "user_id", "created_at"], name="memory_user"),
            models.Index(fields=["project", "agent_id", "created_at"], name="memory_agent"),
            models.Index(fields=["project", "run_id", "created_at"], name="memory_run"),
            models.Index(fields=["project", "app_id", "created_at"], name="memory_app"),
            models.Index(fields=["project", "created_at"], name="memory_project_created"),
            models.Index(fields=["project", "content_hash"], name="memory_content_hash"),
            HnswIndex(
                name="memory_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
        ]


class MemoryAccess(models.Model):
    """How often searches returned a memory, and when last (the frequency and recency
    boosts read them). Kept beside the memory, not in its row: a memory's row holds its
    vector, and an update that cannot stay on its page (most of them, with ~2 KB rows)
    writes a new entry into every index of the memory table, the HNSW graph included. Each
    search would have cost ten graph insertions; these narrow rows update in place."""

    memory = models.OneToOneField(
        Memory, primary_key=True, on_delete=models.CASCADE, related_name="access"
    )
    # No index on the project: rows are only ever read by memory id, and an index would
    # offer the planner a way to read all of a project's counters for a hundred memories.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    access_count = models.PositiveIntegerField(default=0)
    last_accessed_at = models.DateTimeField()


class MemoryVersion(models.Model):
    """One change of one memory: what Mem0's history endpoint returns."""

    class Event(models.TextChoices):
        ADD = "ADD"
        UPDATE = "UPDATE"
        DELETE = "DELETE"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    memory = models.ForeignKey(Memory, on_delete=models.CASCADE, related_name="versions")
    event = models.CharField(max_length=8, choices=Event.choices)
    old_text_ciphertext = models.TextField(null=True)
    new_text_ciphertext = models.TextField(null=True)
    input_ciphertext = models.TextField(null=True)
    metadata_ciphertext = models.TextField(null=True)
    categories = ArrayField(models.CharField(max_length=100), null=True)
    confidence = models.FloatField(null=True)
    actor_type = models.CharField(max_length=20)
    actor_id = models.CharField(max_length=200)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["project", "memory", "created_at"], name="version_memory")]


class IngestionJob(models.Model):
    """The outbox row of an `add` (and the `event` the Mem0 API exposes). Claimed with a
    conditional UPDATE, so two workers never run the same job."""

    class Status(models.TextChoices):
        PENDING = "PENDING"
        RUNNING = "RUNNING"
        SUCCEEDED = "SUCCEEDED"
        FAILED = "FAILED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    episode = models.ForeignKey(Episode, null=True, on_delete=models.SET_NULL, related_name="+")
    event_type = models.CharField(max_length=16, default="ADD")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # The request options (infer, metadata, categories...) as an encrypted JSON object.
    options_ciphertext = models.TextField(null=True)
    idempotency_key = models.CharField(max_length=200, null=True)
    payload_hash = models.CharField(max_length=64, null=True)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=5)
    claimed_by = models.CharField(max_length=200, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True)
    next_attempt_at = models.DateTimeField(null=True)
    # [{"id": memory id, "event": ADD|UPDATE|DELETE|NONE}]: ids only, text is read live.
    results = models.JSONField(default=list)
    error = models.TextField(blank=True, default="")
    actor_type = models.CharField(max_length=20, default="api_key")
    actor_id = models.CharField(max_length=200, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True)
    completed_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "created_at"], name="job_project_created"),
            models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat"),
            models.Index(fields=["project", "payload_hash", "created_at"], name="job_payload"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "idempotency_key"], name="job_idempotency_unique"
            )
        ]


class WorkingState(models.Model):
    """Per-session working memory: active goals, pending tasks, current focus."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    run_id = models.CharField(max_length=255)
    user_id = models.CharField(max_length=255, null=True)
    agent_id = models.CharField(max_length=255, null=True)
    state_ciphertext = models.TextField()
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "run_id"], name="working_state_run_unique")
        ]


class Entity(models.Model):
    """A person, place, organization or preference mentioned by a user's memories."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    user_id = models.CharField(max_length=255, null=True)
    agent_id = models.CharField(max_length=255, null=True)
    name_ciphertext = models.TextField()
    name_hash = models.CharField(max_length=64)
    entity_type = models.CharField(max_length=32)
    memories = models.ManyToManyField(Memory, through="EntityMention", related_name="entities")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["project", "user_id"], name="entity_user")]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "user_id", "agent_id", "name_hash", "entity_type"],
                name="entity_unique_in_scope",
                nulls_distinct=False,
            )
        ]


class EntityMention(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="mentions")
    memory = models.ForeignKey(Memory, on_delete=models.CASCADE, related_name="mentions")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "entity", "memory"], name="mention_unique")
        ]


class Relation(models.Model):
    """A typed edge between two entities ("user" → lives_in → "Berlin"), from one memory."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="outgoing")
    relation = models.CharField(max_length=64)
    target = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="incoming")
    memory = models.ForeignKey(Memory, on_delete=models.CASCADE, related_name="relations")
    confidence = models.FloatField(default=1.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["project", "source"], name="relation_source")]


class MemoryExport(models.Model):
    """Mem0's structured export: the memories matching filters, shaped by a schema."""

    class Status(models.TextChoices):
        PENDING = "PENDING"
        SUCCEEDED = "SUCCEEDED"
        FAILED = "FAILED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    filters = models.JSONField(default=dict)
    schema = models.JSONField(default=dict)
    instructions_ciphertext = models.TextField(null=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    result_ciphertext = models.TextField(null=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [models.Index(fields=["project", "created_at"], name="export_project_created")]


class MemoryToken(models.Model):
    """A posting of the blind keyword index: a keyed hash of one normalised token of a
    memory's text (the text itself is encrypted, so keywords are matched on hashes)."""

    id = models.BigAutoField(primary_key=True)
    # No single-column indexes on the two keys: (project, token) below and (memory, token),
    # created by migration 0003, lead with them. Every posting written maintains every index.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    memory = models.ForeignKey(
        Memory, on_delete=models.CASCADE, related_name="tokens", db_index=False
    )
    token = models.BigIntegerField()
    term_frequency = models.PositiveSmallIntegerField(default=1)

    class Meta:
        indexes = [
            # A posting list: the index holds each posting's memory and term frequency, so
            # keyword search over a large scope reads postings without visiting the table
            # (an index-only scan; 20k postings went from ~25 ms to a few at 1M memories).
            models.Index(
                fields=["project", "token"],
                include=["memory", "term_frequency"],
                name="token_project_token_postings",
            ),
        ]
