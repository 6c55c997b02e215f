"""Loaded before Django is configured: test-run environment defaults."""

import os
import tempfile

os.environ.setdefault("ENGRAM_TESTING", "1")
# A queue and key prefix of the tests' own, so a `make run` worker on the same Redis never
# takes a test's job (it would look for it in the wrong database).
os.environ.setdefault("ENGRAM_REDIS_PREFIX", "engram-test")
os.environ.setdefault("ENGRAM_CELERY_QUEUE", "engram-test")
os.environ.setdefault("MEM0_TELEMETRY", "false")
os.environ.setdefault("MEM0_DIR", tempfile.mkdtemp(prefix="engram-mem0-"))
for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
