"""API-key authentication: `Authorization: Token <key>` (what the Mem0 client sends) or Bearer.

Unknown, malformed, expired and revoked keys all fail the same way, so the answer tells an
attacker nothing about which keys exist.
"""

from dataclasses import dataclass

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from audit.services import Actor
from config.errors import UNAUTHENTICATED_MESSAGE
from tenants.api_keys import parse_key_id, secret_matches
from tenants.models import ApiKey, Project
from tenants.selectors import api_key_for_authentication

ACCEPTED_SCHEMES = {"token", "bearer"}


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


def _presented_key(request: Request) -> str | None:
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


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiPrincipal, ApiKey] | None:
        plaintext = _presented_key(request)
        if plaintext is None:
            return None
        key_id = parse_key_id(plaintext)
        api_key = api_key_for_authentication(key_id=key_id) if key_id else None
        if api_key is None or not _usable(api_key, plaintext):
            raise exceptions.AuthenticationFailed(UNAUTHENTICATED_MESSAGE)
        return ApiPrincipal(project=api_key.project, api_key=api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return "Token"
