"""The Django project package: settings, URLs, WSGI/ASGI entry points and the Celery app."""

from config import database  # noqa: F401  (connects its connection_created receiver)
from config.celery import app as celery_app

__all__ = ["celery_app"]
