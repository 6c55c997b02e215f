"""The connection health check (config/postgres_backend/base.py): an idle connection in good
health is trusted without a query; one the server dropped is found out and replaced."""

import time
from collections.abc import Iterator

import pytest
from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

pytestmark = pytest.mark.django_db


@pytest.fixture
def spare() -> Iterator[BaseDatabaseWrapper]:
    """A connection of its own, outside the test's transaction, as a request would hold."""
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


def _backend_pid(wrapper: BaseDatabaseWrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _last_statement(pid: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        return str(cursor.fetchone()[0])


def test_a_healthy_idle_connection_is_usable_without_a_query(spare: BaseDatabaseWrapper) -> None:
    pid = _backend_pid(spare)
    assert spare.is_usable()
    assert _last_statement(pid) == "SELECT pg_backend_pid()"


def test_a_connection_the_server_dropped_is_not_usable_and_is_replaced(
    spare: BaseDatabaseWrapper,
) -> None:
    pid = _backend_pid(spare)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert cursor.fetchone()[0] is True
    deadline = time.monotonic() + 5
    while spare.is_usable() and time.monotonic() < deadline:
        time.sleep(0.01)  # the server's FATAL message is on its way
    assert not spare.is_usable()

    spare.health_check_done = False  # type: ignore[attr-defined]  # as at a request's start
    spare.close_if_health_check_failed()
    assert spare.connection is None
    assert _backend_pid(spare) != pid
