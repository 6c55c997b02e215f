"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis),
against a live gunicorn: valid and invalid inputs alike never get a 5xx, and every answer
has a documented status, content type, headers and body shape.

Bounded: FUZZ_EXAMPLES examples per operation and generation mode, derandomized (the same
inputs every run, so a failure reproduces), so this file runs in well under three minutes.
The operations are walked in one test rather than through `schema.parametrize()`, whose lazy
loader does not work with this pytest version.
"""

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks
from schemathesis.generation import GenerationMode

from tests.conftest import Tenant
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.live

FUZZ_EXAMPLES = 8
# Webhook targets are outbound URLs: generated ones could name real hosts, and traffic from
# this machine goes to loopback only. (Random ids make these 404s anyway; this keeps it so.)
NOT_FUZZED = {
    ("POST", "/api/v1/webhooks/projects/{project_id}/"),
    ("PUT", "/api/v1/webhooks/{webhook_id}/"),
    ("PATCH", "/api/v1/webhooks/{webhook_id}/"),
}
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def api_schema(gunicorn_server: LiveServer, owner_tenant: Tenant) -> Any:
    document = httpx.get(f"{gunicorn_server.url}/api/schema/?format=json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(
        base_url=gunicorn_server.url,
        headers={"Authorization": f"Token {owner_tenant.api_key}"},
        request_timeout=60,
    )
    return schema


def fuzz_operation(operation: Any, mode: GenerationMode, auth: dict[str, str]) -> str | None:
    """The first failure of one operation in one mode, shrunk by hypothesis; None if none."""

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        case.call_and_validate(headers=auth, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        return None  # e.g. negative mode on an operation whose every input is a free string
    except Exception as exc:  # noqa: BLE001 - every kind of failure is reported together
        return f"{operation.label} [{mode.value}]: {type(exc).__name__}: {str(exc)[:1500]}"
    return None


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_survives_generated_input(
    api_schema: Any, owner_tenant: Tenant, mode: GenerationMode
) -> None:
    auth = {"Authorization": f"Token {owner_tenant.api_key}"}
    failures = []
    operations = [
        operation
        for operation in (result.ok() for result in api_schema.get_all_operations())
        if (operation.method.upper(), operation.path) not in NOT_FUZZED
    ]
    assert len(operations) > 30
    for operation in operations:
        failure = fuzz_operation(operation, mode, auth)
        if failure:
            failures.append(failure)
    assert not failures, "\n\n".join(failures)
