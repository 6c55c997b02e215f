from django.urls import re_path

from tenants import api

PROJECT = r"^api/v1/orgs/organizations/(?P<org_id>[^/]+)/projects/(?P<project_id>[^/]+)"

urlpatterns = [
    re_path(r"^v1/ping/?$", api.PingApi.as_view(), name="ping"),
    re_path(PROJECT + r"/?$", api.ProjectApi.as_view(), name="project"),
    re_path(PROJECT + r"/members/?$", api.ProjectMembersApi.as_view(), name="project-members"),
]
