"""gunicorn settings for Engram: `gunicorn -c platform/gunicorn.conf.py config.wsgi:application`.

Everything deployment-specific comes from the environment:
  HOST (127.0.0.1; the container image sets 0.0.0.0), PORT (8000), WEB_CONCURRENCY (2
  processes), GUNICORN_THREADS (4 per process), GUNICORN_TIMEOUT (30 s),
  FORWARDED_ALLOW_IPS (proxies whose X-Forwarded-* headers are believed; none by default),
  GUNICORN_CONTROL_SOCKET (gunicornc control socket; disabled when unset).
"""

import os
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = [f"{os.environ.get('HOST', '127.0.0.1')}:{_env_int('PORT', 8000)}"]

# Threads suit this I/O-bound app (PostgreSQL, Redis, LLM calls) and share one copy of the
# embedding model per process; processes bring the second core into play.
worker_class = "gthread"
workers = _env_int("WEB_CONCURRENCY", 2)
threads = _env_int("GUNICORN_THREADS", 4)
timeout = _env_int("GUNICORN_TIMEOUT", 30)
graceful_timeout = 30
keepalive = 5

# Recycle processes now and then so that slow leaks cannot grow forever; the jitter keeps
# all workers from restarting at the same moment.
max_requests = 2000
max_requests_jitter = 200

# Heartbeat files on tmpfs: a container's overlay filesystem can stall them into timeouts.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'

# X-Forwarded-Proto and friends only count from proxies named in the environment; a client
# must not be able to claim https or another address by sending the header itself.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "")
proxy_allow_ips = forwarded_allow_ips

# The control socket defaults to ~/.gunicorn/gunicorn.ctl, which is shared between
# instances and unwritable for the image's user: only use one that is asked for.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket
