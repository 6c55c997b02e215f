"""`GET /v1/event/{id}/` and `GET /v1/events/` (spec §6.4): the status of an add."""

from rest_framework.request import Request
from rest_framework.response import Response

from memory.api.common import MemoryApiView, pagination
from memory.api.output import event_object, page_links
from memory.selectors.events import event_get, events_page


class EventDetailApi(MemoryApiView):
    def get(self, request: Request, event_id: str) -> Response:
        return Response(event_object(event_get(project=self.project, event_id=event_id)))


class EventListApi(MemoryApiView):
    def get(self, request: Request) -> Response:
        page, page_size = pagination(self.query(request), {}, default_size=50)
        count, views = events_page(project=self.project, page=page, page_size=page_size)
        return Response(
            {
                "count": count,
                **page_links(request, page, page_size, count),
                "results": [event_object(view) for view in views],
            }
        )
