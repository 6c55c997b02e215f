"""Compliance endpoints, served with and without the trailing slash (like the Mem0 ones)."""

from django.urls import re_path

from audit import api

ID = r"(?P<{}>[^/]+)"

urlpatterns = [
    re_path(r"^v1/gdpr/requests/?$", api.GdprRequestListApi.as_view(), name="gdpr-requests"),
    re_path(
        rf"^v1/gdpr/requests/{ID.format('request_id')}/?$",
        api.GdprRequestDetailApi.as_view(),
        name="gdpr-request",
    ),
    re_path(
        rf"^v1/gdpr/requests/{ID.format('request_id')}/download/?$",
        api.GdprExportDownloadApi.as_view(),
        name="gdpr-request-download",
    ),
    re_path(r"^v1/retention/?$", api.RetentionPolicyApi.as_view(), name="retention-policy"),
    re_path(r"^v1/legal-holds/?$", api.LegalHoldListApi.as_view(), name="legal-holds"),
    re_path(
        rf"^v1/legal-holds/{ID.format('hold_id')}(?:/release)?/?$",
        api.LegalHoldReleaseApi.as_view(),
        name="legal-hold",
    ),
    re_path(r"^v1/audit/events/?$", api.AuditEventListApi.as_view(), name="audit-events"),
    re_path(r"^v1/audit/export/?$", api.AuditExportApi.as_view(), name="audit-export"),
    re_path(r"^v1/audit/verify/?$", api.AuditVerifyApi.as_view(), name="audit-verify"),
]
