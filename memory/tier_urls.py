"""Routes of the memory tiers (docs/memory-tiers.md), served with and without the trailing
slash like every Mem0-style path."""

from django.urls import URLPattern, re_path

from memory.api import tiers

urlpatterns: list[URLPattern] = [
    re_path(r"^v1/episodes/?$", tiers.EpisodeListApi.as_view(), name="episode-list"),
    re_path(r"^v1/short-term/?$", tiers.ShortTermApi.as_view(), name="short-term"),
    re_path(
        r"^v1/working-state/(?P<run_id>[^/]+)/?$",
        tiers.WorkingStateApi.as_view(),
        name="working-state",
    ),
]
