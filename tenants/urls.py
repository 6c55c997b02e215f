from django.urls import re_path

from tenants import api

urlpatterns = [
    re_path(r"^v1/ping/?$", api.PingApi.as_view(), name="ping"),
]
