"""A second project's key, through every client method, sees and changes nothing of the
first project's memories."""

from typing import Any

import pytest
from mem0.exceptions import MemoryNotFoundError

from tests.conftest import Tenant
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.live


def test_other_project_sees_and_changes_nothing(
    gunicorn_server: LiveServer, fresh_tenant: Tenant, other_tenant: Tenant
) -> None:
    from mem0 import MemoryClient

    owner = MemoryClient(api_key=fresh_tenant.api_key, host=gunicorn_server.url)
    intruder = MemoryClient(api_key=other_tenant.api_key, host=gunicorn_server.url)
    ids = [
        r["id"]
        for r in owner.add(
            [
                {"role": "user", "content": "My PIN is 1234"},
                {"role": "user", "content": "I live in Oslo"},
            ],
            user_id="alice",
            infer=False,
        )["results"]
    ]
    before = owner.get_all(filters={"user_id": "alice"})["results"]

    _intruder_reads_nothing(intruder, ids)
    _intruder_writes_nothing(intruder, ids)

    after = owner.get_all(filters={"user_id": "alice"})["results"]
    assert after == before
    assert [h["event"] for h in owner.history(ids[0])] == ["ADD"]


def _intruder_reads_nothing(intruder: Any, ids: list[str]) -> None:
    for memory_id in ids:
        with pytest.raises(MemoryNotFoundError):
            intruder.get(memory_id)
        with pytest.raises(MemoryNotFoundError):
            intruder.history(memory_id)
    assert intruder.search("PIN", filters={"user_id": "alice"}, threshold=0.0)["results"] == []
    assert intruder.search("PIN", filters={"user_id": "*"}, threshold=0.0)["results"] == []
    assert intruder.get_all(filters={"user_id": "alice"})["count"] == 0
    assert intruder.users()["results"] == []
    assert intruder.get_summary(filters={"user_id": "alice"})[0]["memory_count"] == 0


def _intruder_writes_nothing(intruder: Any, ids: list[str]) -> None:
    with pytest.raises(MemoryNotFoundError):
        intruder.update(ids[0], text="hacked")
    with pytest.raises(MemoryNotFoundError):
        intruder.delete(ids[0])
    with pytest.raises(MemoryNotFoundError):
        intruder.batch_update([{"memory_id": ids[0], "text": "hacked"}])
    with pytest.raises(MemoryNotFoundError):
        intruder.batch_delete([{"memory_id": ids[1]}])
    with pytest.raises(MemoryNotFoundError):
        intruder.delete_users(user_id="alice")
    with pytest.raises(MemoryNotFoundError):
        intruder.feedback(ids[0], "NEGATIVE")
    assert intruder.delete_all(user_id="alice")["deleted_count"] == 0
    intruder.delete_all(user_id="*", agent_id="*", app_id="*", run_id="*")
