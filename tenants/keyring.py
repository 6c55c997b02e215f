"""Envelope encryption: a master key wraps versioned per-project (and per-subject) data keys.

Field ciphertexts look like `e1:<data key id>:<base64url(nonce || ciphertext || tag)>`. The
associated data binds project, table, row, field and key, so a ciphertext copied to another
row, field or tenant fails to decrypt. Unwrapped keys live only in this process's memory,
for ENGRAM_KEY_CACHE_SECONDS; they never reach Redis, logs or task arguments.
"""

import base64
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone

from tenants.models import DataKey

CIPHERTEXT_PREFIX = "e1"
NONCE_BYTES = 12


class DecryptionError(Exception):
    """The ciphertext does not belong to this place, or its key is unusable."""


class ContentErased(DecryptionError):
    """The subject's key was destroyed (crypto-shredding): the content is gone for good."""


@dataclass(frozen=True)
class FieldContext:
    """Where a ciphertext lives; bound into its associated data."""

    table: str
    row_id: str
    field: str


# --- master keys ------------------------------------------------------------------------------


def _decode_master(value: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError as exc:
        raise ImproperlyConfigured("ENGRAM_MASTER_KEY is not valid base64") from exc
    if len(raw) != 32:
        raise ImproperlyConfigured("ENGRAM_MASTER_KEY must be 32 random bytes, base64-encoded")
    return raw


def _kek_id(master: bytes) -> str:
    return hashlib.sha256(b"engram-kek-id" + master).hexdigest()[:16]


@cache
def master_keys() -> dict[str, bytes]:
    """The current master key first, then previous ones kept for unwrapping during rotation."""
    if not settings.ENGRAM_MASTER_KEY:
        raise ImproperlyConfigured("ENGRAM_MASTER_KEY (or ENGRAM_MASTER_KEY_FILE) is not set")
    keys = [_decode_master(settings.ENGRAM_MASTER_KEY)]
    keys += [_decode_master(value) for value in settings.ENGRAM_MASTER_KEY_PREVIOUS]
    return {_kek_id(key): key for key in keys}


def current_kek_id() -> str:
    return next(iter(master_keys()))


def _wrap_aad(project_id: UUID, purpose: str, subject_ref: str, version: int) -> bytes:
    return f"engram-dek|{project_id}|{purpose}|{subject_ref}|{version}".encode()


def wrap_key(
    key: bytes, *, project_id: UUID, purpose: str, subject_ref: str, version: int
) -> tuple[bytes, str]:
    kek_id = current_kek_id()
    nonce = os.urandom(NONCE_BYTES)
    aad = _wrap_aad(project_id, purpose, subject_ref, version)
    return nonce + AESGCM(master_keys()[kek_id]).encrypt(nonce, key, aad), kek_id


def unwrap_key(row: DataKey) -> bytes:
    if row.state == DataKey.State.DESTROYED or row.wrapped_key is None:
        raise ContentErased("this content's key was destroyed")
    master = master_keys().get(row.kek_id)
    if master is None:
        raise DecryptionError(f"data key {row.pk} is wrapped by an unknown master key")
    blob = bytes(row.wrapped_key)
    aad = _wrap_aad(row.project_id, row.purpose, row.subject_ref, row.version)
    try:
        return AESGCM(master).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag as exc:
        raise DecryptionError(f"data key {row.pk} failed to unwrap") from exc


# --- the in-process key cache ---------------------------------------------------------------


class _KeyCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[int, tuple[float, bytes]] = {}
        self._active: dict[tuple[str, str, str], tuple[float, int]] = {}

    def key(self, key_id: int) -> bytes | None:
        with self._lock:
            entry = self._by_id.get(key_id)
        return entry[1] if entry and entry[0] > time.monotonic() else None

    def active(self, scope: tuple[str, str, str]) -> int | None:
        with self._lock:
            entry = self._active.get(scope)
        return entry[1] if entry and entry[0] > time.monotonic() else None

    def remember(self, row: DataKey, key: bytes, *, active: bool) -> None:
        expires = time.monotonic() + settings.ENGRAM_KEY_CACHE_SECONDS
        with self._lock:
            self._by_id[row.pk] = (expires, key)
            if active:
                self._active[(str(row.project_id), row.purpose, row.subject_ref)] = (
                    expires,
                    row.pk,
                )

    def forget(self, key_ids: list[int] | None = None) -> None:
        with self._lock:
            if key_ids is None:
                self._by_id.clear()
                self._active.clear()
                return
            for key_id in key_ids:
                self._by_id.pop(key_id, None)
            self._active = {s: e for s, e in self._active.items() if e[1] not in key_ids}


key_cache = _KeyCache()


# --- data keys --------------------------------------------------------------------------------


def _create_key(project_id: UUID, purpose: str, subject_ref: str, version: int) -> DataKey:
    key = AESGCM.generate_key(bit_length=256)
    wrapped, kek_id = wrap_key(
        key, project_id=project_id, purpose=purpose, subject_ref=subject_ref, version=version
    )
    row = DataKey.objects.create(
        project_id=project_id,
        purpose=purpose,
        subject_ref=subject_ref,
        version=version,
        wrapped_key=wrapped,
        kek_id=kek_id,
    )
    key_cache.remember(row, key, active=True)
    return row


# Subject keys already read in the current write block (see subject_keys_read_once).
_subject_reads: ContextVar[dict[tuple[str, str, str], tuple[int, bytes]] | None] = ContextVar(
    "subject_key_reads", default=None
)


@contextmanager
def subject_keys_read_once() -> Iterator[None]:
    """Inside one write transaction, read each subject key's state once, not per field.

    The state must come from the database (an erasure in another process may have destroyed
    the key), but re-reading it for every field of a 100-memory batch only repeats the same
    answer: the batch commits or fails as a whole, so one read inside its transaction is as
    safe as a read per field. Use it around a whole transaction, never across transactions.
    """
    token = _subject_reads.set({})
    try:
        yield
    finally:
        _subject_reads.reset(token)


def active_key(project_id: UUID, purpose: str, subject_ref: str = "") -> tuple[int, bytes]:
    """The key new ciphertexts use for this scope, created on first use."""
    scope = (str(project_id), purpose, subject_ref)
    if purpose == DataKey.Purpose.SUBJECT:
        reads = _subject_reads.get()
        if reads is None:
            return _read_active_key(project_id, purpose, subject_ref)
        if scope not in reads:
            reads[scope] = _read_active_key(project_id, purpose, subject_ref)
        return reads[scope]
    cached_id = key_cache.active(scope)
    if cached_id is not None:
        cached_key = key_cache.key(cached_id)
        if cached_key is not None:
            return cached_id, cached_key
    return _read_active_key(project_id, purpose, subject_ref)


def _read_active_key(project_id: UUID, purpose: str, subject_ref: str) -> tuple[int, bytes]:
    # A subject key can be destroyed by an erasure in another process at any moment; new
    # content sealed with it would be lost, so its state comes from the database.
    row = (
        DataKey.objects.filter(project_id=project_id, purpose=purpose, subject_ref=subject_ref)
        .order_by("-version")
        .first()
    )
    if row is not None and row.state == DataKey.State.ACTIVE:
        key = key_cache.key(row.pk) or unwrap_key(row)
        key_cache.remember(row, key, active=True)
        return row.pk, key
    version = (row.version + 1) if row is not None else 1
    try:
        with transaction.atomic():
            row = _create_key(project_id, purpose, subject_ref, version)
    except IntegrityError:
        # Another process created the same version first: use theirs.
        return _read_active_key(project_id, purpose, subject_ref)
    return row.pk, key_cache.key(row.pk) or unwrap_key(row)


def keys_prefetch(project_id: UUID, ciphertexts: Iterable[str | None]) -> None:
    """Load the keys these ciphertexts need that are not cached, in one query, before
    decrypting many rows: search results from ten users need ten users' keys. Destroyed
    keys, unknown ids and malformed tokens are left for decrypt() to report, one at a time."""
    key_ids = set()
    for token in ciphertexts:
        if token:
            with suppress(IndexError, ValueError):
                key_ids.add(ciphertext_key_id(token))
    missing = [key_id for key_id in key_ids if key_cache.key(key_id) is None]
    if len(missing) < 2:
        return  # key_by_id() reads a single one just as fast
    keys_remember(DataKey.objects.filter(project_id=project_id, pk__in=missing))


def keys_remember(rows: Iterable[DataKey]) -> None:
    """Cache the keys of rows a caller already read (one it joined to its own query, say);
    destroyed ones are left for decrypt() to report."""
    for row in rows:
        if key_cache.key(row.pk) is not None:
            continue
        if row.state != DataKey.State.DESTROYED and row.wrapped_key is not None:
            key_cache.remember(row, unwrap_key(row), active=False)


def key_by_id(project_id: UUID, key_id: int) -> bytes:
    cached = key_cache.key(key_id)
    if cached is not None:
        return cached
    row = DataKey.objects.filter(project_id=project_id, pk=key_id).first()
    if row is None:
        raise DecryptionError(f"data key {key_id} does not exist in this project")
    key = unwrap_key(row)
    key_cache.remember(row, key, active=False)
    return key


# --- field encryption -------------------------------------------------------------------------


def subject_ref(project_id: UUID, subject: str) -> str:
    """A stable, non-reversible name for an end user's key: no raw user ids in the key ring."""
    return hmac.new(index_key(project_id), b"subject|" + subject.encode(), "sha256").hexdigest()


def _aad(project_id: UUID, context: FieldContext, key_id: int) -> bytes:
    return f"{project_id}|{context.table}|{context.row_id}|{context.field}|{key_id}".encode()


def encrypt(
    project_id: UUID, plaintext: str, context: FieldContext, *, subject: str | None = None
) -> str:
    """Encrypt one field value; `subject` ("user:alice") selects that end user's own key."""
    ref = subject_ref(project_id, subject) if subject else ""
    purpose = DataKey.Purpose.SUBJECT if subject else DataKey.Purpose.DATA
    key_id, key = active_key(project_id, purpose, ref)
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), _aad(project_id, context, key_id))
    return f"{CIPHERTEXT_PREFIX}:{key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def decrypt(project_id: UUID, token: str, context: FieldContext) -> str:
    try:
        prefix, key_id_text, payload = token.split(":", 2)
        key_id = int(key_id_text)
        blob = base64.urlsafe_b64decode(payload)
    except ValueError as exc:
        raise DecryptionError("not an Engram ciphertext") from exc
    if prefix != CIPHERTEXT_PREFIX:
        raise DecryptionError(f"unknown ciphertext format {prefix!r}")
    key = key_by_id(project_id, key_id)
    try:
        plain = AESGCM(key).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(project_id, context, key_id)
        )
    except InvalidTag as exc:
        raise DecryptionError("ciphertext does not belong to this field") from exc
    return plain.decode()


def ciphertext_key_id(token: str) -> int:
    return int(token.split(":", 2)[1])


# --- keyed hashes (dedupe and the blind index) ------------------------------------------------


def index_key(project_id: UUID) -> bytes:
    """The project's key for keyed hashes. Never rotated: stored hashes depend on it."""
    _, key = active_key(project_id, DataKey.Purpose.INDEX)
    return key


def keyed_hash(project_id: UUID, value: str, *, domain: str) -> str:
    message = f"{domain}|{value}".encode()
    return hmac.new(index_key(project_id), message, "sha256").hexdigest()


def data_key_rotate(project_id: UUID, purpose: str = DataKey.Purpose.DATA) -> DataKey:
    """Start a new version for writes; older versions stay readable until re-encrypted."""
    with transaction.atomic():
        current = (
            DataKey.objects.select_for_update()
            .filter(project_id=project_id, purpose=purpose, subject_ref="")
            .order_by("-version")
            .first()
        )
        version = (current.version + 1) if current else 1
        DataKey.objects.filter(
            project_id=project_id, purpose=purpose, subject_ref="", state=DataKey.State.ACTIVE
        ).update(state=DataKey.State.RETIRED)
        row = _create_key(project_id, purpose, "", version)
    key_cache.forget([current.pk] if current else [])
    key_cache.remember(row, unwrap_key(row), active=True)
    return row


def subject_key_destroy(project_id: UUID, subject: str) -> int:
    """Crypto-shredding: drop the wrapped key so every copy of the subject's content, backups
    included, becomes unreadable. Returns how many key versions were destroyed."""
    ref = subject_ref(project_id, subject)
    rows = DataKey.objects.filter(
        project_id=project_id, purpose=DataKey.Purpose.SUBJECT, subject_ref=ref
    )
    ids = list(rows.values_list("pk", flat=True))
    rows.update(state=DataKey.State.DESTROYED, wrapped_key=None, destroyed_at=timezone.now())
    key_cache.forget(ids)
    return len(ids)
