"""`manage.py engram_mcp`: the MCP server on stdio, acting for one API key's project.

The key comes from ENGRAM_API_KEY (preferred: a command line is visible to other users of
the machine) or `--api-key`. Nothing but MCP messages may reach stdout; logs go to stderr.
"""

import os
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from integrations.mcp_server import build_server, fixed_principal
from integrations.mcp_tools import ToolError, principal_for_key


class Command(BaseCommand):
    help = "Serve Engram's memory tools over MCP stdio for one API key."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--api-key", default=None, help="default: $ENGRAM_API_KEY")

    def handle(self, *args: Any, **options: Any) -> None:
        key = options["api_key"] or os.environ.get("ENGRAM_API_KEY", "")
        if not key:
            raise CommandError("Give the API key in ENGRAM_API_KEY or with --api-key.")
        try:
            principal = principal_for_key(key)
        except ToolError as exc:
            raise CommandError(str(exc)) from exc
        build_server(fixed_principal(principal)).run("stdio")
