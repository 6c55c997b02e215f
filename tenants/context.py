"""The tenant of the current database transaction, as row-level security sees it.

Every tenant table has a policy comparing its `project_id` with the transaction-local setting
`app.project_id` (see tenants/rls.py). These helpers set it inside a transaction, never on the
session, so a pooled connection can not carry one tenant's context into the next request.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from django.db import connection, transaction

PROJECT_SETTING = "app.project_id"
ORG_SETTING = "app.org_id"
API_KEY_LOOKUP_SETTING = "app.api_key_lookup"


class NoTenantContext(RuntimeError):
    """Raised when tenant-scoped work is attempted outside a transaction."""


def set_locals(values: dict[str, str]) -> dict[str, str]:
    """SET LOCAL several settings in one round trip; returns their previous values ('' for
    a setting never set). Also used for pgvector's per-query settings (retrieval/vector.py)."""
    names = list(values)
    reads = ", ".join(["coalesce(current_setting(%s, true), '')"] * len(names))
    writes = ", ".join(["set_config(%s, %s, true)"] * len(names))
    params = [*names, *(part for name in names for part in (name, values[name]))]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {reads}, {writes}", params)  # placeholders only
        row = cursor.fetchone()
    return {name: str(value) for name, value in zip(names, row, strict=False)}


def _set_pair(project: str, org: str) -> tuple[str, str]:
    """Set both tenant settings in one round trip; returns the previous values."""
    previous = set_locals({PROJECT_SETTING: project, ORG_SETTING: org})
    return previous[PROJECT_SETTING], previous[ORG_SETTING]


def _set(name: str, value: str) -> str:
    return set_locals({name: value})[name]


def activate_tenant(project_id: UUID | str, org_id: UUID | str | None = None) -> None:
    """Bind the current transaction to a project (for the rest of the transaction)."""
    if not connection.in_atomic_block:
        raise NoTenantContext("activate_tenant() needs an open transaction")
    _set_pair(str(project_id), str(org_id) if org_id else "")


@contextmanager
def tenant_context(project_id: UUID | str, org_id: UUID | str | None = None) -> Iterator[None]:
    """A transaction in which row-level security shows only this project's rows.

    Nested use restores the outer tenant on exit, so a task that touches two projects in
    turn can never write the second one's rows under the first one's context.
    """
    with transaction.atomic():
        previous = _set_pair(str(project_id), str(org_id) if org_id else "")
        try:
            yield
        finally:
            if not connection.needs_rollback:
                _set_pair(*previous)


@contextmanager
def organization_context(org_id: UUID | str) -> Iterator[None]:
    """A transaction for organization-level rows (the organization's own audit chain)."""
    with transaction.atomic():
        previous = _set_pair("", str(org_id))
        try:
            yield
        finally:
            if not connection.needs_rollback:
                _set_pair(*previous)


@contextmanager
def dangerously_allow_api_key_lookup(key_id: str) -> Iterator[None]:
    """Authentication must find a key before it knows the tenant. The api-key policy lets
    exactly the row with this public key id through while this is active, nothing else.

    Inside a request's transaction no savepoint is needed: if the lookup fails, the whole
    transaction is rolled back and the setting with it."""
    with transaction.atomic(savepoint=False):
        previous = _set(API_KEY_LOOKUP_SETTING, key_id)
        try:
            yield
        finally:
            if not connection.needs_rollback:
                _set(API_KEY_LOOKUP_SETTING, previous)


def current_project_id() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(current_setting(%s, true), '')", [PROJECT_SETTING])
        value: str = cursor.fetchone()[0]
    return value
