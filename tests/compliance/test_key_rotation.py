"""Key rotation: a new data-key version takes over writes, older rows are re-encrypted in
batches, master-key rotation only re-wraps keys, and reads never fail meanwhile."""

import base64
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from audit.models import AuditEvent
from memory.models import Memory
from tenants.context import tenant_context
from tenants.keyring import ciphertext_key_id, current_kek_id, key_cache, master_keys
from tenants.models import DataKey
from tenants.tasks import data_reencrypt_task, stale_ciphertexts
from tests.compliance.builders import add_memory, api_ok, list_memories, unique
from tests.conftest import Tenant, make_tenant

AGENT = "rotation-bot"


@pytest.fixture
def tenant(committed_db: None) -> Tenant:
    tenant = make_tenant(unique("rotation"))
    for index in range(12):
        add_memory(
            tenant, f"Fact number {index} about rotation", agent_id=AGENT, metadata={"index": index}
        )
    add_memory(tenant, "A user's own fact", user_id=unique("user"))
    return tenant


def _data_key_ids(tenant: Tenant) -> set[int]:
    with tenant_context(tenant.project.id, tenant.organization.id):
        tokens = Memory.objects.filter(agent_id=AGENT).values_list("text_ciphertext", flat=True)
        return {ciphertext_key_id(token) for token in tokens}


class Reader(threading.Thread):
    """Lists and searches the agent's memories until told to stop; records any failure."""

    def __init__(self, tenant: Tenant) -> None:
        super().__init__(daemon=True)
        self.tenant, self.stop, self.reads = tenant, threading.Event(), 0
        self.errors: list[str] = []

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self._read_once()
        finally:
            connection.close()

    def _read_once(self) -> None:
        try:
            listed = list_memories(self.tenant, agent_id=AGENT)
            texts = {record["memory"] for record in listed}
            assert len(texts) == 12 and all(t.startswith("Fact number") for t in texts)
            search = self.tenant.client().post(
                "/v3/memories/search/",
                {"query": "rotation fact", "filters": {"agent_id": AGENT}},
                format="json",
            )
            assert search.status_code == 200, search.content
            self.reads += 1
        except Exception as exc:  # noqa: BLE001 - every failure is the finding
            self.errors.append(repr(exc))


@pytest.fixture
def reader(tenant: Tenant) -> Iterator[Reader]:
    thread = Reader(tenant)
    thread.start()
    yield thread
    thread.stop.set()
    thread.join(timeout=30)


def test_rotation_reencrypts_old_rows_while_reads_keep_working(
    tenant: Tenant, reader: Reader
) -> None:
    before = _data_key_ids(tenant)
    call_command("engram_keys", "rotate", "--project", str(tenant.project.id), "--wait")
    add_memory(tenant, "Fact number 12 written after rotation", agent_id="other-bot")
    call_command("engram_keys", "rotate", "--project", str(tenant.project.id), "--wait")
    reader.stop.set()
    reader.join(timeout=30)

    assert reader.errors == [] and reader.reads > 0
    after = _data_key_ids(tenant)
    assert len(after) == 1 and after.isdisjoint(before)
    with tenant_context(tenant.project.id, tenant.organization.id):
        active = DataKey.objects.get(project=tenant.project, purpose="data", state="active")
        actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert after == {active.pk} and active.version == 3
    assert set(stale_ciphertexts(project=tenant.project).values()) == {0}
    assert actions.count("keyring.data_key_rotated") == 2 and "keyring.reencrypted" in actions


def test_background_reencryption_is_resumable_and_idempotent(tenant: Tenant) -> None:
    call_command("engram_keys", "rotate", "--project", str(tenant.project.id))
    assert sum(stale_ciphertexts(project=tenant.project).values()) >= 24  # text + metadata
    assert data_reencrypt_task.run(str(tenant.project.id), final_pass=True) >= 24
    assert data_reencrypt_task.run(str(tenant.project.id), final_pass=True) == 0
    assert set(stale_ciphertexts(project=tenant.project).values()) == {0}
    assert len(list_memories(tenant, agent_id=AGENT)) == 12


def _new_master() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _switch_master(current: str, previous: list[str]) -> Any:
    settings = override_settings(ENGRAM_MASTER_KEY=current, ENGRAM_MASTER_KEY_PREVIOUS=previous)
    settings.enable()
    master_keys.cache_clear()
    key_cache.forget()
    return settings


def test_master_rotation_rewraps_keys_without_touching_rows(tenant: Tenant) -> None:
    from django.conf import settings

    old, new = settings.ENGRAM_MASTER_KEY, _new_master()
    with tenant_context(tenant.project.id, tenant.organization.id):
        rows_before = dict(Memory.objects.values_list("id", "text_ciphertext"))
    switched = _switch_master(new, [old])
    try:
        call_command("engram_keys", "rotate-master")
        with tenant_context(tenant.project.id, tenant.organization.id):
            kek_ids = set(
                DataKey.objects.exclude(state="destroyed").values_list("kek_id", flat=True)
            )
            assert dict(Memory.objects.values_list("id", "text_ciphertext")) == rows_before
        assert kek_ids == {current_kek_id()}
        switched.disable()
        switched = _switch_master(new, [])  # the old master is gone: reads still work
        assert len(list_memories(tenant, agent_id=AGENT)) == 12
        api_ok(tenant.client().get("/v1/ping/"))
    finally:
        switched.disable()
        restore = _switch_master(old, [new])
        call_command("engram_keys", "rotate-master")  # leave every project on the usual master
        restore.disable()
        master_keys.cache_clear()
        key_cache.forget()
