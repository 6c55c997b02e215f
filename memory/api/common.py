"""What every memory endpoint shares: the base view that reads the body and query safely,
and the request fields of the Mem0 wire format (entity ids, messages, timestamps...).

Everything a client sends is checked here before it reaches a service: bodies must be JSON
objects, strings must not hold NUL characters (PostgreSQL text cannot store them), nesting
is bounded, and unknown fields are ignored, as the hosted platform does.
"""

import ast
import json
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.conf import settings
from rest_framework import serializers
from rest_framework.parsers import BaseParser
from rest_framework.request import Request

from config.errors import InvalidInput, PayloadTooLarge
from config.quotas import SafeJSONParser
from memory.filters import ParsedFilters, parse_filters
from tenants.api_base import ProjectApiView

MAX_JSON_DEPTH = 32
MAX_ID_LENGTH = 255
MAX_INSTRUCTIONS_CHARS = 20_000
MAX_LOOSE_QUERY_CHARS = 20_000
# One conversation message may be longer than one memory: the extractor reads it whole.
MAX_MESSAGE_CHARS = 4 * settings.ENGRAM_MAX_MEMORY_CHARS
MESSAGE_ROLES = {"user", "assistant", "system", "tool"}

SerializerT = TypeVar("SerializerT", bound=serializers.Serializer)


def check_clean(value: Any, path: str = "body", depth: int = 0) -> None:
    """Reject NUL characters anywhere and absurd nesting, naming where they are."""
    if depth > MAX_JSON_DEPTH:
        raise InvalidInput(f"{path}: nested more than {MAX_JSON_DEPTH} levels deep.")
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(f"{path}: NUL characters (\\u0000) are not allowed in strings.")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_clean(key, f"{path} key", depth + 1)
            check_clean(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_clean(item, f"{path}.{index}", depth + 1)


def parse_loose_object(text: str, name: str) -> dict[str, Any]:
    """A dict sent in a query string. The Mem0 client puts Python's `str(dict)` there
    (single quotes); JSON is accepted too. Only literals are evaluated, never code."""
    if len(text) > MAX_LOOSE_QUERY_CHARS:
        raise InvalidInput(f"{name}: longer than {MAX_LOOSE_QUERY_CHARS} characters.")
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, dict):
            check_clean(value, name)
            return value
    raise InvalidInput(f"{name}: expected an object, as JSON or a Python dict literal.")


class AnyTypeJSONParser(SafeJSONParser):
    """A body sent without `Content-Type: application/json` (curl -d, requests' data=) is
    still read as JSON: a 400 for what does not parse beats a 415 for a missing header."""

    media_type = "*/*"


class MemoryApiView(ProjectApiView):
    """Project-scoped view with safe access to the body and the query string."""

    parser_classes: list[type[BaseParser]] = [SafeJSONParser, AnyTypeJSONParser]

    def body(self, request: Request) -> dict[str, Any]:
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise PayloadTooLarge(
                f"Request body over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
                "(ENGRAM_MAX_REQUEST_BYTES)."
            )
        try:
            data = request.data
        except RecursionError as exc:
            raise InvalidInput(f"body: nested more than {MAX_JSON_DEPTH} levels deep.") from exc
        if hasattr(data, "dict") and not data:  # an empty body arrives as an empty QueryDict
            return {}
        if not isinstance(data, dict):
            raise InvalidInput(f"body: must be a JSON object, got {_json_type(data)}.")
        check_clean(data)
        return dict(data)

    def query(self, request: Request) -> dict[str, str]:
        """Single-valued query parameters (the last value wins, as in Django)."""
        values = {key: request.query_params.get(key, "") for key in request.query_params}
        check_clean(values, "query")
        return values

    def query_list(self, request: Request, key: str) -> list[str]:
        values = request.query_params.getlist(key)
        check_clean(values, f"query.{key}")
        return values

    def parse(self, serializer_class: type[SerializerT], data: dict[str, Any]) -> dict[str, Any]:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def filters(self, raw: Any, *, require_scope: bool = True) -> ParsedFilters:
        return parse_filters(self.project.id, raw, require_scope=require_scope)


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", int: "a number", float: "a number"}
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return names.get(type(value), type(value).__name__)


# --- request fields -------------------------------------------------------------------------


def entity_id_field() -> serializers.CharField:
    return serializers.CharField(
        required=False, allow_null=True, max_length=MAX_ID_LENGTH, trim_whitespace=True
    )


def instructions_field() -> serializers.CharField:
    return serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=MAX_INSTRUCTIONS_CHARS
    )


def object_field() -> serializers.DictField:
    return serializers.DictField(required=False, allow_null=True)


MAX_METADATA_BYTES = 16_384


class MetadataField(serializers.DictField):
    """A memory's metadata: a JSON object of at most MAX_METADATA_BYTES when serialised
    (it is stored encrypted with every memory and every version)."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value: dict[str, Any] = super().to_internal_value(data)
        size = len(json.dumps(value, ensure_ascii=False).encode())
        if size > MAX_METADATA_BYTES:
            raise serializers.ValidationError(
                f"{size} bytes as JSON; at most {MAX_METADATA_BYTES}."
            )
        return value


def metadata_field() -> MetadataField:
    return MetadataField(required=False, allow_null=True)


def flag_field(default: bool) -> serializers.BooleanField:
    return serializers.BooleanField(required=False, allow_null=True, default=default)


class TimestampField(serializers.Field):
    """Unix seconds (int or float) or an ISO-8601 date/datetime, as an aware datetime."""

    def to_internal_value(self, data: Any) -> datetime:
        try:
            if isinstance(data, bool):
                raise TypeError
            if isinstance(data, int | float):
                return datetime.fromtimestamp(float(data), UTC)
            if isinstance(data, str):
                moment = datetime.fromisoformat(data.strip().replace("Z", "+00:00"))
                return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            pass
        raise serializers.ValidationError(
            "expected Unix seconds or an ISO-8601 date/datetime, e.g. 1700000000."
        )

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


class CategoriesCatalogField(serializers.Field):
    """Mem0 `custom_categories`: a list of one-key objects {name: description}."""

    def __init__(self, *, allow_names: bool = False, **kwargs: Any) -> None:
        self.allow_names = allow_names
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> list[Any]:
        if not isinstance(data, list) or len(data) > 200:
            raise serializers.ValidationError("expected a list of at most 200 categories.")
        for entry in data:
            if isinstance(entry, str) and self.allow_names and 0 < len(entry) <= 100:
                continue
            if not isinstance(entry, dict) or len(entry) != 1:
                raise serializers.ValidationError(
                    'each category is a one-key object {"name": "description"}.'
                )
            name, description = next(iter(entry.items()))
            if not 0 < len(name) <= 100 or not isinstance(description, str | None):
                raise serializers.ValidationError(
                    "category names are 1-100 characters, descriptions strings."
                )
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class MessagesField(serializers.Field):
    """Mem0 `messages`: a list of {role, content[, name]}; a bare string or one object is
    accepted too (the client wraps them the same way). Content may be a string or a list of
    parts, of which the text parts are kept; a message without text is dropped."""

    def to_internal_value(self, data: Any) -> list[dict[str, Any]]:
        if isinstance(data, str | dict):
            data = [data]
        if not isinstance(data, list) or not data:
            raise serializers.ValidationError("expected a non-empty list of {role, content}.")
        if len(data) > settings.ENGRAM_MAX_MESSAGES_PER_ADD:
            raise serializers.ValidationError(
                f"{len(data)} messages; at most {settings.ENGRAM_MAX_MESSAGES_PER_ADD} per call."
            )
        messages = [message_normalise(item, index) for index, item in enumerate(data)]
        kept = [message for message in messages if message is not None]
        if not kept:
            raise serializers.ValidationError("no message has any text content.")
        return kept

    def to_representation(self, value: Any) -> Any:
        return value


def message_normalise(item: Any, index: int) -> dict[str, Any] | None:
    if isinstance(item, str):
        item = {"role": "user", "content": item}
    if not isinstance(item, dict):
        raise serializers.ValidationError({str(index): "expected an object with role and content."})
    role = item.get("role") or "user"
    if not isinstance(role, str) or role.lower() not in MESSAGE_ROLES:
        raise serializers.ValidationError(
            {str(index): f"role must be one of {', '.join(sorted(MESSAGE_ROLES))}."}
        )
    text = content_text(item.get("content"), index)
    if text is None or not text.strip():
        return None
    if len(text) > MAX_MESSAGE_CHARS:
        raise serializers.ValidationError(
            {str(index): f"content is {len(text)} characters; at most {MAX_MESSAGE_CHARS}."}
        )
    message: dict[str, Any] = {"role": role.lower(), "content": text}
    if isinstance(item.get("name"), str) and item["name"].strip():
        message["name"] = item["name"].strip()[:MAX_ID_LENGTH]
    return message


def content_text(content: Any, index: int) -> str | None:
    """The text of a message's content; None for content without text (e.g. an image)."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, dict):
        text = content.get("text")
        return text if isinstance(text, str) else None
    if isinstance(content, list):
        parts = [content_text(part, index) for part in content]
        texts = [part for part in parts if part]
        return "\n".join(texts) if texts else None
    raise serializers.ValidationError(
        {str(index): "content must be a string or a list of content parts."}
    )


def pagination(
    query: dict[str, str], body: dict[str, Any], *, default_size: int = 100, max_size: int = 200
) -> tuple[int, int]:
    """Mem0 list paging: `page`/`page_size` in the query (winning) or the body."""
    page = _positive_int("page", query.get("page", body.get("page")), 1, 1_000_000_000)
    size = _positive_int(
        "page_size", query.get("page_size", body.get("page_size")), default_size, max_size
    )
    return page, size


def _positive_int(name: str, raw: Any, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name}: expected an integer, got {raw!r}.") from exc
    if not 1 <= value <= maximum:
        raise InvalidInput(f"{name}: must be between 1 and {maximum}, got {value}.")
    return value
