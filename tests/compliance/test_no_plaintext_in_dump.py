"""A raw dump of the database holds no user content in the clear: unique markers written
through the API (memory text, an update, metadata values, a conversation, working state,
a structured export's instructions, a GDPR export file) appear nowhere in `pg_dump`."""

from uuid import uuid4

from rest_framework.test import APIClient

from audit.gdpr import gdpr_request_process
from tests.compliance.builders import (
    add_conversation,
    add_memory,
    api_ok,
    make_working_state,
    unique,
    update_memory,
)
from tests.compliance.dump import project_dump
from tests.conftest import make_tenant


def _marker(kind: str) -> str:
    return f"MARKER{kind.upper()}{uuid4().hex[:16]}"


def test_markers_written_through_the_api_never_reach_a_dump_in_clear(committed_db: None) -> None:
    tenant = make_tenant(unique("dump"))
    user_id = unique("dumpuser")
    markers = {
        name: _marker(name)
        for name in (
            "text",
            "update",
            "metadata",
            "episode",
            "working",
            "instructions",
            "agentonly",
        )
    }
    memory_id = add_memory(
        tenant,
        f"I keep {markers['text']} safe",
        user_id=user_id,
        metadata={"note": markers["metadata"], "n": 1},
    )
    update_memory(
        tenant, memory_id, text=f"now {markers['update']}", metadata={"more": markers["metadata"]}
    )
    add_memory(tenant, f"agent fact {markers['agentonly']}", agent_id=unique("agent"))
    add_conversation(
        tenant,
        f"My code word is {markers['episode']}",
        user_id=user_id,
        run_id=unique("run"),
        metadata={"source": markers["metadata"]},
    )
    make_working_state(
        tenant.project,
        run_id=unique("run"),
        user_id=user_id,
        state={"focus": markers["working"], "goals": [markers["working"]]},
    )
    api_ok(
        tenant.client().post(
            "/v1/exports/",
            {
                "schema": {"type": "object"},
                "filters": {"user_id": user_id},
                "export_instructions": markers["instructions"],
            },
            format="json",
        ),
        201,
    )
    request = api_ok(
        tenant.client().post(
            "/v1/gdpr/requests/",
            {"kind": "export", "subject_type": "user", "subject_id": user_id},
            format="json",
        ),
        202,
    )
    assert gdpr_request_process(project_id=tenant.project.id, request_id=request["id"]) == "done"
    # The markers are really stored: the user's export file holds every one of them.
    link = api_ok(tenant.client().get(f"/v1/gdpr/requests/{request['id']}/"))["export"]
    exported = APIClient().get(link["download_url"]).content.decode()
    for name in ("text", "update", "metadata", "episode", "working"):
        assert markers[name] in exported, name

    dump = project_dump(tenant.project.id)

    assert user_id in dump and "e1:" in dump, "the dump does not contain the tenant's rows"
    found = {name: marker for name, marker in markers.items() if marker in dump}
    assert found == {}, f"plaintext found in the database dump: {sorted(found)}"
