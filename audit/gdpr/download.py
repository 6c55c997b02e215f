"""Getting an export file out: an expiring signed link for the API (the link alone is the
credential, so it can be handed to the end user), or a direct read for the console."""

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core import signing
from django.utils import timezone

from audit.gdpr.requests import export_context
from audit.models import DataSubjectRequest
from audit.services import Actor, audit_record
from config.errors import NotFound
from tenants.context import tenant_context
from tenants.keyring import decrypt
from tenants.models import Project

DOWNLOAD_SALT = "engram.gdpr.export-download"
DEFAULT_LINK_SECONDS = 3600
LINK_ACTOR_TYPE = "download_link"
GONE = "No export file for this request (not ready, expired or erased)."


@dataclass(frozen=True)
class DownloadLink:
    token: str
    expires_at: datetime


def link_seconds() -> int:
    """The setting when defined, else the environment variable of the same name."""
    configured = getattr(settings, "ENGRAM_GDPR_LINK_SECONDS", None)
    if configured is None:
        configured = os.environ.get("ENGRAM_GDPR_LINK_SECONDS") or DEFAULT_LINK_SECONDS
    return int(configured)


def export_available(request: DataSubjectRequest, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return (
        request.kind == DataSubjectRequest.Kind.EXPORT
        and request.status == DataSubjectRequest.Status.DONE
        and request.export_bytes is not None
        and (request.export_expires_at is None or request.export_expires_at > now)
    )


def gdpr_download_link(*, request: DataSubjectRequest) -> DownloadLink | None:
    """A fresh link for a finished export; valid for ENGRAM_GDPR_LINK_SECONDS, never past
    the file's own expiry."""
    if not export_available(request):
        return None
    token = signing.TimestampSigner(salt=DOWNLOAD_SALT).sign_object(
        {"r": str(request.id), "p": str(request.project_id)}
    )
    expires = timezone.now() + timedelta(seconds=link_seconds())
    if request.export_expires_at is not None:
        expires = min(expires, request.export_expires_at)
    return DownloadLink(token=token, expires_at=expires)


def _token_project(token: str, request_id: UUID) -> UUID:
    try:
        claims: Any = signing.TimestampSigner(salt=DOWNLOAD_SALT).unsign_object(
            token, max_age=link_seconds()
        )
        if claims.get("r") != str(request_id):
            raise NotFound(GONE)
        return UUID(claims["p"])
    except (signing.BadSignature, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise NotFound(GONE) from exc


def _read(project: Project, request_id: UUID, actor: Actor) -> tuple[DataSubjectRequest, bytes]:
    """Inside the tenant context: decrypt the file and audit the download."""
    request = DataSubjectRequest.objects.filter(project=project, pk=request_id).first()
    if request is None or request.export_ciphertext is None or not export_available(request):
        raise NotFound(GONE)
    payload = decrypt(project.id, request.export_ciphertext, export_context(request.id))
    audit_record(
        org_id=project.organization_id,
        project_id=project.id,
        actor=actor,
        action="gdpr.export_downloaded",
        target_type="gdpr_request",
        target_id=str(request.id),
        extra={"subject_hash": request.subject_hash, "bytes": len(payload.encode())},
    )
    return request, payload.encode()


def gdpr_export_download(*, request_id: Any, token: str) -> tuple[DataSubjectRequest, bytes]:
    """The file behind a signed link; NotFound for a bad, expired or foreign link alike."""
    try:
        parsed_id = UUID(str(request_id))
    except ValueError as exc:
        raise NotFound(GONE) from exc
    project_id = _token_project(token, parsed_id)
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        raise NotFound(GONE)
    with tenant_context(project.id, project.organization_id):
        return _read(project, parsed_id, Actor(LINK_ACTOR_TYPE, str(parsed_id)))


def gdpr_export_read(*, project: Project, request_id: Any, actor: Actor) -> dict[str, Any]:
    """For the console (a signed-in staff member of the project): the parsed document."""
    try:
        parsed_id = UUID(str(request_id))
    except ValueError as exc:
        raise NotFound(GONE) from exc
    with tenant_context(project.id, project.organization_id):
        _, payload = _read(project, parsed_id, actor)
    document: dict[str, Any] = json.loads(payload)
    return document
