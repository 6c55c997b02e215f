"""The memory tiers beyond long-term memories (docs/memory-tiers.md):

- `GET /v1/episodes/`: episodic, the full conversations of a user/agent/app/run;
- `GET /v1/short-term/`: short-term, a session's recent messages (Redis, with a TTL);
- `GET|PUT|PATCH|DELETE /v1/working-state/{run_id}/`: working, a session's goals, tasks
  and focus.

Views only parse, call one selector or service and serialize; the project comes from the
API key, so another project's sessions are a 404 like missing ones.
"""

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import InvalidInput
from memory.api.common import MemoryApiView, entity_id_field, pagination
from memory.api.output import page_links
from memory.ingestion.short_term import Session
from memory.selectors.tiers import episodes_page, short_term_window, working_state_get
from memory.services.tiers import working_state_delete, working_state_patch, working_state_put

ENTITY_PARAMS = ("user_id", "agent_id", "app_id", "run_id")


class EntityQuery(serializers.Serializer):
    user_id = entity_id_field()
    agent_id = entity_id_field()
    app_id = entity_id_field()
    run_id = entity_id_field()


class EpisodeListApi(MemoryApiView):
    """Conversations, oldest first, to rebuild an agent's context."""

    def get(self, request: Request) -> Response:
        query = self.query(request)
        ids = self.parse(EntityQuery, {key: query[key] for key in ENTITY_PARAMS if key in query})
        page, page_size = pagination(query, {}, default_size=50)
        result = episodes_page(project=self.project, entity_ids=ids, page=page, page_size=page_size)
        return Response(
            {
                "count": result.count,
                **page_links(request, page, page_size, result.count),
                "results": result.results,
            }
        )


class ShortTermApi(MemoryApiView):
    """A session's window: `?run_id=`, or `?user_id=`/`?agent_id=` for adds without a run."""

    def get(self, request: Request) -> Response:
        query = self.query(request)
        ids = self.parse(EntityQuery, {key: query[key] for key in ENTITY_PARAMS if key in query})
        session = Session(ids.get("user_id"), ids.get("agent_id"), ids.get("run_id"))
        if not (session.run_id or session.user_id or session.agent_id):
            raise InvalidInput("run_id (or user_id / agent_id for adds without a run) is required.")
        window = short_term_window(project=self.project, session=session)
        return Response(
            {
                "run_id": session.run_id,
                "user_id": None if session.run_id else session.user_id,
                "agent_id": None if session.run_id else session.agent_id,
                "messages": [message.as_dict() for message in window.messages],
                "count": len(window.messages),
                "source": window.source,
                "ttl_seconds": window.ttl_seconds,
            }
        )


class WorkingStateInput(serializers.Serializer):
    state = serializers.DictField()
    user_id = entity_id_field()
    agent_id = entity_id_field()
    expected_version = serializers.IntegerField(required=False, allow_null=True, min_value=0)


class WorkingStateApi(MemoryApiView):
    """GET reads, PUT replaces, PATCH merges (RFC 7396), DELETE removes."""

    def _input(self, request: Request) -> dict[str, Any]:
        body = self.body(request)
        # `{"state": {...}}` is the documented form; a bare state object is accepted too.
        if not isinstance(body.get("state"), dict):
            body = {"state": body}
        data = self.parse(WorkingStateInput, body)
        if_match = (request.headers.get("If-Match") or "").strip().strip('"').removeprefix("W/")
        if data.get("expected_version") is None and if_match.strip('"').isdigit():
            data["expected_version"] = int(if_match.strip('"'))
        return data

    def get(self, request: Request, run_id: str) -> Response:
        return Response(working_state_get(project=self.project, run_id=run_id).as_dict())

    def put(self, request: Request, run_id: str) -> Response:
        data = self._input(request)
        record = working_state_put(
            project=self.project,
            run_id=run_id,
            state=data["state"],
            actor=self.principal.actor,
            user_id=data.get("user_id"),
            agent_id=data.get("agent_id"),
            expected_version=data.get("expected_version"),
        )
        return Response(record.as_dict())

    def patch(self, request: Request, run_id: str) -> Response:
        data = self._input(request)
        record = working_state_patch(
            project=self.project,
            run_id=run_id,
            patch=data["state"],
            actor=self.principal.actor,
            user_id=data.get("user_id"),
            agent_id=data.get("agent_id"),
            expected_version=data.get("expected_version"),
        )
        return Response(record.as_dict())

    def delete(self, request: Request, run_id: str) -> Response:
        working_state_delete(project=self.project, run_id=run_id, actor=self.principal.actor)
        return Response({"message": "Working state deleted."})
