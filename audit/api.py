"""The compliance API (project API key with the `admin` scope): GDPR requests, retention
policy, legal holds, and the audit trail. Views parse, call one service or selector, and
serialize; the tenant and the actor come from the key."""

from datetime import UTC, datetime
from typing import Any, ClassVar

from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.checkpoints import checkpoint_verify
from audit.gdpr import gdpr_download_link, gdpr_export_download, gdpr_request_create
from audit.models import DataSubjectRequest, LegalHold
from audit.retention import (
    legal_hold_place,
    legal_hold_release,
    retention_policy_data,
    retention_policy_get,
    retention_policy_update,
)
from audit.selectors import (
    audit_event_json,
    audit_events_filter,
    audit_export_jsonl,
    dsr_is_overdue,
    gdpr_request_get,
    gdpr_request_list,
    legal_hold_list,
)
from audit.verification import chain_verify
from config.errors import InvalidInput
from tenants.api_base import ProjectApiView
from tenants.context import tenant_context

ADMIN_ONLY = dict.fromkeys(("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH"), "admin")
ADMIN_ONLY["DELETE"] = "admin"


class AdminApiView(ProjectApiView):
    required_scopes: ClassVar[dict[str, str]] = ADMIN_ONLY

    def body(self, request: Request) -> dict[str, Any]:
        if not isinstance(request.data, dict):
            raise InvalidInput("The request body must be a JSON object.")
        return dict(request.data)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _when(value: str | None, name: str) -> datetime | None:
    """An ISO datetime, or a date (midnight UTC)."""
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None and (day := parse_date(value)) is not None:
        parsed = datetime(day.year, day.month, day.day)
    if parsed is None:
        raise InvalidInput(f"{name}: not an ISO date or datetime.")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# --- GDPR requests ------------------------------------------------------------------------------


class GdprRequestInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=DataSubjectRequest.Kind.values)
    subject_type = serializers.ChoiceField(choices=["user", "agent", "run"])
    subject_id = serializers.CharField(max_length=255, trim_whitespace=False)


def request_data(request: Request, item: DataSubjectRequest) -> dict[str, Any]:
    export = None
    if item.kind == DataSubjectRequest.Kind.EXPORT and item.export_bytes is not None:
        link = gdpr_download_link(request=item)
        export = {
            "bytes": item.export_bytes,
            "expires_at": _iso(item.export_expires_at),
            "download_url": (
                request.build_absolute_uri(
                    reverse("gdpr-request-download", args=[item.id]) + f"?token={link.token}"
                )
                if link
                else None
            ),
            "download_expires_at": _iso(link.expires_at) if link else None,
        }
    return {
        "id": str(item.id),
        "kind": item.kind,
        "subject_type": item.subject_type,
        "subject_id": item.subject_id or None,
        "status": item.status,
        "requested_by": item.requested_by,
        "received_at": _iso(item.received_at),
        "due_at": _iso(item.due_at),
        "started_at": _iso(item.started_at),
        "finished_at": _iso(item.finished_at),
        "overdue": dsr_is_overdue(item),
        "counts": item.counts,
        "error": item.error or None,
        "export": export,
    }


class GdprRequestListApi(AdminApiView):
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status") or None
        overdue = request.query_params.get("overdue", "").lower() in {"1", "true", "yes"}
        items = gdpr_request_list(project=self.project, status=status, overdue_only=overdue)
        return Response({"results": [request_data(request, item) for item in items]})

    def post(self, request: Request) -> Response:
        serializer = GdprRequestInput(data=self.body(request))
        serializer.is_valid(raise_exception=True)
        item = gdpr_request_create(
            project=self.project, actor=self.principal.actor, **serializer.validated_data
        )
        return Response(request_data(request, item), status=202)


class GdprRequestDetailApi(AdminApiView):
    def get(self, request: Request, request_id: str) -> Response:
        item = gdpr_request_get(project=self.project, request_id=request_id)
        return Response(request_data(request, item))


class GdprExportDownloadApi(APIView):
    """The signed link is the credential (it can be handed to the end user): no API key.
    A bad, expired or foreign link is the same 404 as a missing export."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request: Request, request_id: str) -> HttpResponse:
        item, payload = gdpr_export_download(
            request_id=request_id, token=request.query_params.get("token", "")
        )
        response = HttpResponse(payload, content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="engram-export-{item.id}.json"'
        response["Cache-Control"] = "no-store"
        return response


# --- retention and legal holds --------------------------------------------------------------------


class RetentionPolicyApi(AdminApiView):
    def get(self, request: Request) -> Response:
        return Response(retention_policy_data(retention_policy_get(project=self.project)))

    def put(self, request: Request) -> Response:
        policy = retention_policy_update(
            project=self.project, changes=self.body(request), actor=self.principal.actor
        )
        return Response(retention_policy_data(policy))

    patch = put


class LegalHoldInput(serializers.Serializer):
    scope = serializers.ChoiceField(choices=LegalHold.Scope.values)
    subject_id = serializers.CharField(
        max_length=255, required=False, allow_blank=True, default="", trim_whitespace=False
    )
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


def hold_data(hold: LegalHold) -> dict[str, Any]:
    return {
        "id": str(hold.id),
        "scope": hold.scope,
        "subject_id": hold.subject_id or None,
        "reason": hold.reason,
        "placed_by": hold.placed_by,
        "placed_at": _iso(hold.placed_at),
        "released_at": _iso(hold.released_at),
        "released_by": hold.released_by or None,
        "active": hold.released_at is None,
    }


class LegalHoldListApi(AdminApiView):
    def get(self, request: Request) -> Response:
        released = request.query_params.get("include_released", "").lower() in {"1", "true"}
        holds = legal_hold_list(project=self.project, include_released=released)
        return Response({"results": [hold_data(hold) for hold in holds]})

    def post(self, request: Request) -> Response:
        serializer = LegalHoldInput(data=self.body(request))
        serializer.is_valid(raise_exception=True)
        hold = legal_hold_place(
            project=self.project, actor=self.principal.actor, **serializer.validated_data
        )
        return Response(hold_data(hold), status=201)


class LegalHoldReleaseApi(AdminApiView):
    def delete(self, request: Request, hold_id: str) -> Response:
        hold = legal_hold_release(project=self.project, hold_id=hold_id, actor=self.principal.actor)
        return Response(hold_data(hold))

    post = delete


# --- audit trail -------------------------------------------------------------------------------


class AuditEventListApi(AdminApiView):
    """`?actor=&action=&target=&since=&until=&limit=`, newest first."""

    def get(self, request: Request) -> Response:
        params = request.query_params
        events = audit_events_filter(
            project=self.project,
            actor=params.get("actor"),
            action=params.get("action"),
            target=params.get("target"),
            since=_when(params.get("since"), "since"),
            until=_when(params.get("until"), "until"),
            limit=_limit(params.get("limit")),
        )
        return Response({"results": [audit_event_json(event) for event in events]})


class AuditExportApi(AdminApiView):
    """`?since=&until=`: the range as JSONL in chain order, with hashes (for archiving and
    offline verification), streamed."""

    def get(self, request: Request) -> StreamingHttpResponse:
        params = request.query_params
        lines = audit_export_jsonl(
            project=self.project,
            since=_when(params.get("since"), "since"),
            until=_when(params.get("until"), "until"),
        )
        response = StreamingHttpResponse(lines, content_type="application/x-ndjson")
        response["Content-Disposition"] = 'attachment; filename="engram-audit.jsonl"'
        return response


def _limit(value: str | None) -> int:
    try:
        return max(1, min(int(value or 100), 1000))
    except ValueError as exc:
        raise InvalidInput("limit: an integer between 1 and 1000.") from exc


class AuditVerifyApi(AdminApiView):
    def get(self, request: Request) -> Response:
        with tenant_context(self.project.id, self.project.organization_id):
            chain = chain_verify(self.project.id)
            signed = checkpoint_verify(self.project.id)
        return Response(
            {
                "ok": chain.ok and signed.ok,
                "chain": {
                    "ok": chain.ok,
                    "events_checked": chain.events_checked,
                    "broken_seq": chain.broken_seq,
                    "reason": chain.reason or None,
                },
                "checkpoints": {
                    "ok": signed.ok,
                    "checked": signed.checkpoints_checked,
                    "latest_seq": signed.latest_seq,
                    "reason": signed.reason or None,
                },
            }
        )
