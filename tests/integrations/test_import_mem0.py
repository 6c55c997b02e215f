"""`manage.py engram_import_mem0`: a Mem0 export lands in the project, searchable, with its
metadata and timestamps, only in that project, and a second run adds nothing."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from memory.models import Memory
from memory.records import memory_record
from tenants.context import tenant_context
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db

EXPORT = {
    "count": 4,
    "next": None,
    "previous": None,
    "results": [
        {
            "id": "0b5e1f7e-aaaa-4bbb-8ccc-000000000001",
            "memory": "Prefers vegetarian food",
            "user_id": "alice",
            "metadata": {"source": "chat"},
            "categories": ["food"],
            "created_at": "2024-05-01T10:00:00-07:00",
            "updated_at": "2024-05-01T10:00:00-07:00",
        },
        {"memory": "Lives in Lisbon", "user_id": "alice", "created_at": "2024-06-02T08:00:00Z"},
        {"memory": "Answers in French", "agent_id": "support-bot"},
        {"memory": "No owner at all"},
    ],
}


def run(tenant: Tenant, path: Path, *extra: str) -> str:
    out = StringIO()
    call_command(
        "engram_import_mem0",
        "--project",
        str(tenant.project.id),
        "--file",
        str(path),
        "--no-progress",
        *extra,
        stdout=out,
        stderr=StringIO(),
    )
    return out.getvalue()


def stored(tenant: Tenant) -> dict[str, dict[str, object]]:
    with tenant_context(tenant.project.id):
        return {
            record["memory"]: record
            for record in (memory_record(m) for m in Memory.objects.filter(project=tenant.project))
        }


def test_a_mem0_list_export_is_imported_once(
    tenant_a: Tenant, tenant_b: Tenant, tmp_path: Path
) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(EXPORT))
    assert run(tenant_a, path) == "read 4, imported 3, duplicates 0, skipped 1\n"
    memories = stored(tenant_a)
    assert set(memories) == {"Prefers vegetarian food", "Lives in Lisbon", "Answers in French"}
    veg = memories["Prefers vegetarian food"]
    assert veg["user_id"] == "alice" and veg["metadata"] == {"source": "chat"}
    assert veg["categories"] == ["food"] and str(veg["created_at"]).startswith("2024-05-01T17")
    assert memories["Answers in French"]["agent_id"] == "support-bot"
    assert stored(tenant_b) == {}

    assert run(tenant_a, path) == "read 4, imported 0, duplicates 3, skipped 1\n"
    assert len(stored(tenant_a)) == 3


def test_json_lines_and_plain_arrays_are_accepted(tenant_a: Tenant, tmp_path: Path) -> None:
    lines = tmp_path / "export.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in EXPORT["results"][:2]))  # type: ignore[index]
    assert "imported 2" in run(tenant_a, lines)
    array = tmp_path / "array.json"
    array.write_text(json.dumps([{"memory": "Has a cat", "user_id": "bob"}]))
    assert "would import 1" in run(tenant_a, array, "--dry-run")
    assert "Has a cat" not in stored(tenant_a)


def test_an_unreadable_file_is_a_clean_error(tenant_a: Tenant, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"hello": "world"}')
    with pytest.raises(CommandError, match="expected a list"):
        run(tenant_a, path)
