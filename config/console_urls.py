"""The staff console, mounted at /console/ (config/urls.py). Project pages live under
/console/p/<project id>/, organization pages under /console/orgs/<org id>/."""

from django.urls import path

from audit.console import auditlog, gdpr, retention
from memory.console import jobs, memories, overview
from tenants.console import auth, keys, limits, members, org_views, two_factor

app_name = "console"

PROJECT = "p/<uuid:project_id>/"
ORG = "orgs/<uuid:org_id>/"

urlpatterns = [
    path("", org_views.home_view, name="home"),
    path("login/", auth.login_view, name="login"),
    path("login/verify/", auth.login_verify_view, name="login-verify"),
    path("logout/", auth.logout_view, name="logout"),
    path("account/password/", auth.password_change_view, name="password-change"),
    path("account/two-factor/", two_factor.two_factor_view, name="two-factor"),
    # organizations
    path(ORG, org_views.org_view, name="org"),
    path(ORG + "members/", members.members_view, name="org-members"),
    path(ORG + "audit/", auditlog.org_audit_view, name="org-audit"),
    path(ORG + "audit/verify/", auditlog.org_audit_verify_view, name="org-audit-verify"),
    # projects
    path(PROJECT, overview.overview_view, name="overview"),
    path(PROJECT + "settings/", org_views.project_settings_view, name="project-settings"),
    path(PROJECT + "limits/", limits.project_limits_view, name="project-limits"),
    path(PROJECT + "keys/", keys.keys_view, name="keys"),
    path(PROJECT + "keys/<str:key_id>/revoke/", keys.key_revoke_view, name="key-revoke"),
    path(PROJECT + "memories/", memories.memories_view, name="memories"),
    path(PROJECT + "memories/<str:memory_id>/", memories.memory_detail_view, name="memory"),
    path(PROJECT + "jobs/", jobs.jobs_view, name="jobs"),
    path(PROJECT + "jobs/<str:job_id>/", jobs.job_detail_view, name="job"),
    path(PROJECT + "jobs/<str:job_id>/retry/", jobs.job_retry_view, name="job-retry"),
    path(PROJECT + "audit/", auditlog.audit_view, name="audit"),
    path(PROJECT + "audit/verify/", auditlog.audit_verify_view, name="audit-verify"),
    path(PROJECT + "audit/export/", auditlog.audit_export_view, name="audit-export"),
    path(PROJECT + "retention/", retention.retention_view, name="retention"),
    path(
        PROJECT + "retention/holds/<str:hold_id>/release/",
        retention.hold_release_view,
        name="hold-release",
    ),
    path(PROJECT + "gdpr/", gdpr.gdpr_view, name="gdpr"),
    path(PROJECT + "gdpr/<str:request_id>/", gdpr.gdpr_request_view, name="gdpr-request"),
    path(
        PROJECT + "gdpr/<str:request_id>/download/", gdpr.gdpr_download_view, name="gdpr-download"
    ),
]
