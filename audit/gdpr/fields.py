"""Opening the ciphertext columns of any tenant table, by the project-wide convention for
associated data: (table = db_table, row = primary key, field = column minus `_ciphertext`).
Memory rows follow it (memory.records.field); so must every other writer."""

import json
from typing import Any

from django.db.models import Model

from tenants.keyring import ContentErased, DecryptionError, FieldContext, decrypt

SUFFIX = "_ciphertext"
UNREADABLE = {"unreadable": True}


def column_context(row: Model, column: str) -> FieldContext:
    return FieldContext(
        table=row._meta.db_table, row_id=str(row.pk), field=column.removesuffix(SUFFIX)
    )


def open_column(row: Model, column: str) -> str | None:
    """The plaintext of one ciphertext column; None when empty. Raises DecryptionError when
    the content cannot be opened (shredded key, or a writer that broke the convention)."""
    token = getattr(row, column)
    if not token:
        return None
    return decrypt(row.project_id, token, column_context(row, column))  # type: ignore[attr-defined]


def open_column_text(row: Model, column: str) -> Any:
    """The plaintext, or a marker object instead of failing the export."""
    try:
        return open_column(row, column)
    except ContentErased:
        return {"erased": True}
    except DecryptionError:
        return UNREADABLE


def open_column_json(row: Model, column: str) -> Any:
    """Like open_column, parsed as JSON; a marker object instead of failing the export."""
    try:
        text = open_column(row, column)
    except ContentErased:
        return {"erased": True}
    except DecryptionError:
        return UNREADABLE
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
