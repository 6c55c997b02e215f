"""Access counters, collected off the request path and sent to the workers in batches.

Every search that returns memories counts a use of each (the frequency and recency boosts
read them). Enqueueing one Celery task per search cost a broker round trip on the request
thread (about a millisecond, a sixth of a user-scoped search) and one task per search for the
workers. Instead, each process gathers the ids in memory and a daemon thread sends one task
per project every FLUSH_SECONDS, with a use count per memory.

Counts are approximate by design: what a process gathered in its last FLUSH_SECONDS is lost
if it is killed with SIGKILL (an orderly exit flushes them), and a retried task may count
twice. Neither changes a ranking noticeably; neither is memory content.
"""

import atexit
import logging
import os
import threading
import time
from collections import Counter, defaultdict
from uuid import UUID

logger = logging.getLogger(__name__)
FLUSH_SECONDS = 1.0
MAX_IDS_PER_TASK = 1000


class AccessRecorder:
    def __init__(self, flush_seconds: float = FLUSH_SECONDS) -> None:
        self._flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._pending: defaultdict[UUID, Counter[UUID]] = defaultdict(Counter)
        self._thread: threading.Thread | None = None
        self._owner_pid = 0

    def record(self, project_id: UUID, memory_ids: list[UUID]) -> None:
        with self._lock:
            self._pending[project_id].update(memory_ids)
            self._ensure_thread()

    def flush(self) -> int:
        """Send what was gathered; returns how many tasks were enqueued."""
        with self._lock:
            pending, self._pending = self._pending, defaultdict(Counter)
        sent = 0
        for project_id, uses in pending.items():
            for count, memory_ids in _grouped_by_count(uses).items():
                for start in range(0, len(memory_ids), MAX_IDS_PER_TASK):
                    sent += _enqueue(
                        project_id, memory_ids[start : start + MAX_IDS_PER_TASK], count
                    )
        return sent

    def _ensure_thread(self) -> None:
        # A forked process (gunicorn, Celery) inherits the object but not the thread.
        if self._thread is not None and self._owner_pid == os.getpid():
            return
        self._owner_pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="access-recorder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:  # a daemon thread: it ends with the process (atexit flushes the rest)
            time.sleep(self._flush_seconds)
            try:
                self.flush()
            except Exception:
                logger.exception("access recording flush failed")


def _grouped_by_count(uses: Counter[UUID]) -> dict[int, list[str]]:
    groups: defaultdict[int, list[str]] = defaultdict(list)
    for memory_id, count in uses.items():
        groups[count].append(str(memory_id))
    return groups


def _enqueue(project_id: UUID, memory_ids: list[str], uses: int) -> int:
    from memory.retrieval.tasks import record_memory_access

    try:
        record_memory_access.delay(str(project_id), memory_ids, uses)
    except Exception as exc:  # noqa: BLE001 - counters must never take anything down
        logger.warning("could not enqueue access recording: %s", type(exc).__name__)
        return 0
    return 1


access_recorder = AccessRecorder()
atexit.register(access_recorder.flush)
