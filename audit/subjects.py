"""Who a data-subject request is about, and the exact-match row sets that belong to them.

Matching is always equality on the scope column (never LIKE, never case-folded): erasing
"alice" must not touch "alice2" or "Alice".
"""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db.models import Q

from audit.models import SubjectType
from config.errors import InvalidInput
from tenants.keyring import keyed_hash

MAX_SUBJECT_ID_LENGTH = 255
SCOPE_COLUMNS = {
    SubjectType.USER: "user_id",
    SubjectType.AGENT: "agent_id",
    SubjectType.RUN: "run_id",
}


@dataclass(frozen=True)
class Subject:
    type: str
    id: str

    @property
    def column(self) -> str:
        return SCOPE_COLUMNS[SubjectType(self.type)]

    def q(self, prefix: str = "") -> Q:
        """`column = id` on a model with user_id / agent_id / run_id (through `prefix`)."""
        return Q(**{f"{prefix}{self.column}": self.id})

    @property
    def key_subject(self) -> str | None:
        """The key-ring subject whose key encrypts this subject's content (users only)."""
        return f"user:{self.id}" if self.type == SubjectType.USER else None


def subject_parse(subject_type: Any, subject_id: Any) -> Subject:
    if subject_type not in SubjectType.values:
        raise InvalidInput(f"subject_type: must be one of {SubjectType.values}.")
    if not isinstance(subject_id, str) or not subject_id.strip():
        raise InvalidInput("subject_id: must be a non-empty string.")
    if len(subject_id) > MAX_SUBJECT_ID_LENGTH:
        raise InvalidInput(f"subject_id: at most {MAX_SUBJECT_ID_LENGTH} characters.")
    # Stored ids are matched exactly as the API received them, so no stripping here.
    return Subject(type=subject_type, id=subject_id)


def subject_hash(project_id: UUID, subject: Subject) -> str:
    """A keyed, non-reversible name for the subject: what audit events and erased requests
    keep instead of the raw id."""
    return keyed_hash(project_id, f"{subject.type}:{subject.id}", domain="gdpr-subject")


def filters_mention(filters: Any, subject: Subject) -> bool:
    """Does a Mem0 filter object (nested AND/OR/NOT) name this subject's scope value?"""
    if isinstance(filters, dict):
        for key, value in filters.items():
            if key == subject.column and _names(value, subject.id):
                return True
            if filters_mention(value, subject):
                return True
    elif isinstance(filters, list):
        return any(filters_mention(item, subject) for item in filters)
    return False


def filters_may_include(filters: Any, subject: Subject) -> bool:
    """Could a listing with these filters have returned the subject's rows? Only filters
    that pin the subject's column to other plain ids are known not to."""
    if filters_mention(filters, subject):
        return True
    values = list(_column_values(filters, subject.column))
    return not values or any(not isinstance(value, str) or value == "*" for value in values)


def _column_values(filters: Any, column: str) -> Any:
    if isinstance(filters, dict):
        for key, value in filters.items():
            if key == column:
                yield value
            else:
                yield from _column_values(value, column)
    elif isinstance(filters, list):
        for item in filters:
            yield from _column_values(item, column)


def _names(value: Any, subject_id: str) -> bool:
    if value == subject_id:
        return True
    if isinstance(value, dict):
        return any(_names(item, subject_id) for item in value.values())
    if isinstance(value, list):
        return subject_id in value
    return False
