"""The Mem0-compatible memory API. Every path is served with and without its trailing
slash: the Mem0 client never follows redirects (spec §1 item 2)."""

from django.urls import URLPattern, re_path

from memory.api import add, batch, entities, events, extras, legacy, memories, search

urlpatterns: list[URLPattern] = [
    re_path(r"^v3/memories/add/?$", add.MemoryAddApi.as_view(), name="memory-add"),
    re_path(r"^v3/memories/search/?$", search.MemorySearchApi.as_view(), name="memory-search"),
    re_path(r"^v3/memories/?$", search.MemoryListApi.as_view(), name="memory-list"),
    re_path(r"^v1/memories/?$", memories.MemoriesRootApi.as_view(), name="memories-root"),
    re_path(r"^v1/memories/search/?$", legacy.LegacySearchV1Api.as_view()),
    re_path(r"^v2/memories/?$", legacy.LegacyListV2Api.as_view()),
    re_path(r"^v2/memories/search/?$", legacy.LegacySearchV2Api.as_view()),
    re_path(
        r"^v1/memories/(?P<memory_id>[^/]+)/history/?$",
        memories.MemoryHistoryApi.as_view(),
        name="memory-history",
    ),
    re_path(
        r"^v1/memories/(?P<memory_id>[^/]+)/?$",
        memories.MemoryDetailApi.as_view(),
        name="memory-detail",
    ),
    re_path(r"^v1/batch/?$", batch.MemoryBatchApi.as_view(), name="memory-batch"),
    re_path(r"^v1/entities/?$", entities.EntityListApi.as_view(), name="entity-list"),
    # The entity id may itself hold a "/" (the client percent-encodes it, the server
    # decodes it before routing), so it takes the rest of the path.
    re_path(
        r"^v2/entities/(?P<entity_type>[^/]+)/(?P<entity_id>.+?)/?$",
        entities.EntityDeleteApi.as_view(),
        name="entity-delete",
    ),
    re_path(r"^v1/event/(?P<event_id>[^/]+)/?$", events.EventDetailApi.as_view(), name="event"),
    re_path(r"^v1/events/?$", events.EventListApi.as_view(), name="event-list"),
    re_path(r"^v1/exports/?$", extras.ExportCreateApi.as_view(), name="export-create"),
    re_path(r"^v1/exports/get/?$", extras.ExportGetApi.as_view(), name="export-get"),
    re_path(r"^v1/summary/?$", extras.SummaryApi.as_view(), name="summary"),
    re_path(r"^v1/feedback/?$", extras.FeedbackApi.as_view(), name="feedback"),
]
