"""`manage.py engram_mcp_http --port 8001`: the MCP server over streamable HTTP at /mcp.

A separate ASGI process (uvicorn), since the Django app runs as WSGI under gunicorn; put
it behind the same reverse proxy as the API (route /mcp to it). Every request brings its
own Engram API key as `Authorization: Bearer <key>`.
"""

from argparse import ArgumentParser
from typing import Any

import uvicorn
from django.core.management.base import BaseCommand

from integrations.mcp_http import mcp_http_app


class Command(BaseCommand):
    help = "Serve Engram's memory tools over MCP streamable HTTP (/mcp)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument(
            "--allowed-host",
            action="append",
            default=[],
            help="Host header values to accept besides the bind address (DNS-rebinding guard),"
            " e.g. mcp.example.com; repeatable",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        app = mcp_http_app(host=options["host"], allowed_hosts=options["allowed_host"])
        uvicorn.run(app, host=options["host"], port=options["port"], log_level="info")
