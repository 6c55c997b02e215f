"""Search's hand-written statements, run as server-side prepared statements on the request's
own connection (its transaction and tenant settings). Planning the ranking statement costs
about 1.2 ms, a third of running it on a conversation; Django's cursors bind values
client-side and cannot prepare. psycopg keeps up to 100 prepared statements per connection.
DATABASE_PREPARED_STATEMENTS=false runs them unprepared, e.g. behind a pooler in
transaction mode that cannot keep them (PgBouncer before 1.21)."""

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection

Params = Sequence[Any] | Mapping[str, Any]


def fetch_all(sql: str, params: Params, *, prepare: bool = True) -> list[tuple[Any, ...]]:
    """All rows of `sql`; prepared unless `prepare` is false (a statement whose text varies
    with its values is not worth keeping) or the setting turns preparing off."""
    if not (prepare and settings.DATABASE_PREPARED_STATEMENTS):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall()
