"""API-key authentication: `Authorization: Token <key>` (what the Mem0 client sends) or Bearer.

Unknown, malformed, expired and revoked keys all fail the same way, so the answer tells an
attacker nothing about which keys exist.
"""

import threading
import time
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from audit.services import Actor
from config.errors import UNAUTHENTICATED_MESSAGE
from tenants.accepted_keys import accepted_keys
from tenants.api_keys import parse_key_id, secret_matches
from tenants.models import ApiKey, Project
from tenants.selectors import api_key_for_authentication

ACCEPTED_SCHEMES = {"token", "bearer"}
# Key ids this process authenticated lately. Work that a request may begin before it is
# authenticated (memory.api.search starts embedding the query) is only begun for these, so a
# caller without a working key cannot make the server do it.
RECENT_KEY_SECONDS = 300.0
RECENT_KEYS_MAX = 10_000
_recent_keys: dict[str, float] = {}
_recent_keys_lock = threading.Lock()


@dataclass(frozen=True)
class ApiPrincipal:
    """What a request may act as: one project, with the key's scopes."""

    project: Project
    api_key: ApiKey

    is_authenticated = True

    @property
    def scopes(self) -> list[str]:
        return list(self.api_key.scopes)

    @property
    def actor(self) -> Actor:
        return Actor("api_key", self.api_key.prefix)


def _remember_authenticated(key_id: str) -> None:
    with _recent_keys_lock:
        if len(_recent_keys) >= RECENT_KEYS_MAX:
            _recent_keys.clear()  # crude, and rare: only speeds up the next requests
        _recent_keys[key_id] = time.monotonic() + RECENT_KEY_SECONDS


def presents_recently_authenticated_key(request: HttpRequest | Request) -> bool:
    """Whether the request carries the id of a key that this process accepted in the last
    RECENT_KEY_SECONDS. Says nothing about the secret: the request is not authenticated."""
    plaintext = _presented_key(request)
    key_id = parse_key_id(plaintext) if plaintext else None
    if key_id is None:
        return False
    with _recent_keys_lock:
        expires = _recent_keys.get(key_id)
    return expires is not None and expires > time.monotonic()


def _presented_key(request: HttpRequest | Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() not in ACCEPTED_SCHEMES or not value.strip():
        return None
    return value.strip()


def _usable(api_key: ApiKey | None, plaintext: str) -> bool:
    if api_key is None or not secret_matches(plaintext, api_key.secret_hash):
        return False
    if api_key.revoked_at is not None:
        return False
    return api_key.expires_at is None or api_key.expires_at > timezone.now()


def _lookup(key_id: str) -> ApiKey | None:
    """The key row (with project and organization), from this process's memory when it was
    read lately and nothing changed since (tenants/accepted_keys.py)."""
    generation = accepted_keys.generation()
    if generation is not None:
        remembered = accepted_keys.get(key_id, generation)
        if remembered is not None:
            return remembered
    api_key = api_key_for_authentication(key_id=key_id)
    if api_key is not None and generation is not None:
        accepted_keys.remember(api_key, generation)
    return api_key


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiPrincipal, ApiKey] | None:
        plaintext = _presented_key(request)
        if plaintext is None:
            return None
        key_id = parse_key_id(plaintext)
        api_key = _lookup(key_id) if key_id else None
        if api_key is None or not _usable(api_key, plaintext):
            raise exceptions.AuthenticationFailed(UNAUTHENTICATED_MESSAGE)
        _remember_authenticated(api_key.key_id)
        return ApiPrincipal(project=api_key.project, api_key=api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return "Token"
