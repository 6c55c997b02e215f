"""Response shapes of the Mem0 wire format that several endpoints share."""

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from rest_framework.request import Request

from memory.models import IngestionJob
from memory.selectors.events import EventView, event_results
from memory.services.memories import MemoryChange
from tenants.models import Project


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def add_result(change: MemoryChange) -> dict[str, Any]:
    """One result of an add: both the OSS (`memory`) and the platform (`data.memory`) keys."""
    return {
        "id": str(change.memory.id),
        "memory": change.text,
        "data": {"memory": change.text},
        "event": change.event,
    }


def event_object(view: EventView) -> dict[str, Any]:
    """Spec §6.4. `payload` names what was sent without repeating the conversation."""
    job = view.job
    finished = job.completed_at or (job.updated_at if job.status == "FAILED" else None)
    latency = (finished - (job.started_at or job.created_at)).total_seconds() if finished else None
    episode = job.episode
    payload: dict[str, Any] = {}
    if episode is not None:
        payload = {
            "user_id": episode.user_id,
            "agent_id": episode.agent_id,
            "app_id": episode.app_id,
            "run_id": episode.run_id,
            "message_count": episode.message_count,
        }
    return {
        "id": str(job.id),
        "event_type": job.event_type,
        "status": job.status,
        "payload": payload,
        "metadata": None,
        "results": view.results,
        "attempts": job.attempts,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "latency": round(latency * 1000, 1) if latency is not None else None,
        "graph_status": None,
        "error": (job.error or "Processing failed.") if job.status == "FAILED" else None,
    }


def event_result(project: Project, job: IngestionJob) -> dict[str, Any]:
    """An add answered from an existing event (an idempotent replay)."""
    return {
        "event_id": str(job.id),
        "status": job.status,
        "message": "This request repeats an earlier one; these are its results.",
        "results": event_results(project=project, job=job),
    }


def page_links(request: Request, page: int, page_size: int, count: int) -> dict[str, str | None]:
    """Absolute `next`/`previous` URLs of the same endpoint, as the platform sends them."""

    def link(number: int) -> str:
        params = {key: request.query_params.getlist(key) for key in request.query_params}
        params.update({"page": [str(number)], "page_size": [str(page_size)]})
        base = request.build_absolute_uri(request.path)
        return f"{base}?{urlencode(params, doseq=True)}"

    last = max(1, -(-count // page_size))
    return {
        "next": link(page + 1) if page < last else None,
        "previous": link(min(page - 1, last)) if page > 1 else None,
    }
