"""The fast timestamptz loader (config/database.py) must read exactly what Django's does."""

import datetime

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
VALUES = {
    "2026-11-24 02:51:34.305765+00": datetime.datetime(2026, 11, 24, 2, 51, 34, 305765, UTC),
    "1999-12-31 23:59:59.999999+00": datetime.datetime(1999, 12, 31, 23, 59, 59, 999999, UTC),
    "2024-02-29 12:00:00+05:30": datetime.datetime(2024, 2, 29, 6, 30, tzinfo=UTC),
    "2026-03-29 01:30:00-07": datetime.datetime(2026, 3, 29, 8, 30, tzinfo=UTC),
}


def test_connections_read_timestamps_with_the_wrapped_c_loader() -> None:
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(1184, 0)
    assert loader.__name__ == "UtcTimestamptzLoader"


@pytest.mark.parametrize("text", VALUES)
def test_timestamps_read_as_djangos_own_loader_reads_them(text: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::timestamptz", [text])
        (fast,) = cursor.fetchone()
    with connection.cursor() as cursor:
        register_tzloader(UTC, cursor.cursor)  # Django's pure-Python loader, this cursor only
        cursor.execute("SELECT %s::timestamptz", [text])
        (django_read,) = cursor.fetchone()
    assert fast == django_read == VALUES[text]
    assert fast.tzinfo is UTC
    assert fast.isoformat() == django_read.isoformat()
