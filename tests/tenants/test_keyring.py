import pytest
from django.db import connection

from tenants.context import tenant_context
from tenants.keyring import (
    ContentErased,
    DecryptionError,
    FieldContext,
    data_key_rotate,
    decrypt,
    encrypt,
    key_cache,
    keyed_hash,
    subject_key_destroy,
)
from tenants.models import DataKey
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db
HERE = FieldContext("memory_memory", "row-1", "text")


def test_round_trip_and_fresh_nonce_every_time(tenant_a: Tenant) -> None:
    project_id = tenant_a.project.id
    with tenant_context(project_id):
        first = encrypt(project_id, "I am allergic to nuts", HERE)
        second = encrypt(project_id, "I am allergic to nuts", HERE)
        assert first != second
        assert "allergic" not in first
        assert decrypt(project_id, first, HERE) == "I am allergic to nuts"


def test_ciphertext_moved_to_another_row_field_or_tenant_fails(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    project_id = tenant_a.project.id
    with tenant_context(project_id):
        token = encrypt(project_id, "secret", HERE)
        for other in (
            FieldContext("memory_memory", "row-2", "text"),
            FieldContext("memory_memory", "row-1", "metadata"),
            FieldContext("memory_version", "row-1", "text"),
        ):
            with pytest.raises(DecryptionError):
                decrypt(project_id, token, other)
    with tenant_context(tenant_b.project.id), pytest.raises(DecryptionError):
        decrypt(tenant_b.project.id, token, HERE)


def test_data_keys_are_stored_wrapped_never_in_the_clear(tenant_a: Tenant) -> None:
    project_id = tenant_a.project.id
    with tenant_context(project_id):
        encrypt(project_id, "x", HERE)
        row = DataKey.objects.get(project_id=project_id, purpose="data")
        assert row.wrapped_key is not None and len(bytes(row.wrapped_key)) == 12 + 32 + 16


def test_rotation_writes_with_the_new_version_and_old_ciphertexts_stay_readable(
    tenant_a: Tenant,
) -> None:
    project_id = tenant_a.project.id
    with tenant_context(project_id):
        old = encrypt(project_id, "before rotation", HERE)
        new_key = data_key_rotate(project_id)
        new = encrypt(project_id, "after rotation", HERE)
        assert new.split(":")[1] == str(new_key.pk) != old.split(":")[1]
        key_cache.forget()
        assert decrypt(project_id, old, HERE) == "before rotation"
        assert decrypt(project_id, new, HERE) == "after rotation"


def test_destroying_a_subject_key_shreds_only_that_subjects_content(tenant_a: Tenant) -> None:
    project_id = tenant_a.project.id
    with tenant_context(project_id):
        alice = encrypt(project_id, "alice's fact", HERE, subject="user:alice")
        alicia = encrypt(project_id, "alicia's fact", HERE, subject="user:alicia")
        assert subject_key_destroy(project_id, "user:alice") == 1
        with pytest.raises(ContentErased):
            decrypt(project_id, alice, HERE)
        assert decrypt(project_id, alicia, HERE) == "alicia's fact"
        # A new write for the erased subject gets a brand-new key.
        again = encrypt(project_id, "new fact", HERE, subject="user:alice")
        assert decrypt(project_id, again, HERE) == "new fact"


def test_keyed_hashes_differ_between_projects(tenant_a: Tenant, tenant_b: Tenant) -> None:
    with tenant_context(tenant_a.project.id):
        a = keyed_hash(tenant_a.project.id, "python", domain="token")
    with tenant_context(tenant_b.project.id):
        b = keyed_hash(tenant_b.project.id, "python", domain="token")
    assert a != b and len(a) == 64


def test_no_plaintext_key_material_in_the_table(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a.project.id):
        encrypt(tenant_a.project.id, "x", HERE)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM tenants_datakey WHERE wrapped_key IS NULL")
            assert cursor.fetchone()[0] == 0


def test_a_batch_reads_each_subject_key_once_and_the_next_batch_reads_it_again(
    tenant_a: Tenant,
) -> None:
    from django.test.utils import CaptureQueriesContext

    from audit.services import CLI_ACTOR
    from memory.services.memories import MemoryScope, NewMemory, memories_create

    project = tenant_a.project

    def add(texts: list[str], user: str = "alice") -> int:
        with CaptureQueriesContext(connection) as queries:
            memories_create(
                project=project,
                scope=MemoryScope(user_id=user),
                items=[NewMemory(text=text) for text in texts],
                actor=CLI_ACTOR,
            )
        return sum('FROM "tenants_datakey"' in query["sql"] for query in queries)

    with tenant_context(project.id):
        add(["Bob's first fact"], user="bob")  # the project's index and data keys, cached
        first = add([f"Alice fact number {n}" for n in range(20)])
        assert subject_key_destroy(project.id, "user:alice") == 1
        # A later batch must see the erasure: it reads the key's state again, finds it
        # destroyed and seals with a new key.
        second = add(["Alice fact after the erasure"])
        keys = DataKey.objects.filter(project=project, purpose=DataKey.Purpose.SUBJECT)
        states = sorted(keys.values_list("state", flat=True))
    assert first == 1  # 40 sealed fields (text and history), one read
    assert second == 1
    # Bob's key, Alice's new key, Alice's destroyed one.
    assert states == [DataKey.State.ACTIVE, DataKey.State.ACTIVE, DataKey.State.DESTROYED]
