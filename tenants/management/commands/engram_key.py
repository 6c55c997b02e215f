"""`manage.py engram_key create|list|revoke --project ID ...`"""

import json
from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.services import CLI_ACTOR
from config.errors import EngramError
from tenants.models import ALL_SCOPES, ApiKey, Project
from tenants.selectors import api_key_list, project_get
from tenants.services import api_key_create, api_key_revoke, project_id_parse


class Command(BaseCommand):
    help = "Create, list and revoke a project's API keys."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="issue a new key (printed once)")
        create.add_argument("--project", required=True, help="project id")
        create.add_argument("--name", default="cli key")
        create.add_argument(
            "--scopes", default=",".join(ALL_SCOPES), help=f"comma-separated, of {ALL_SCOPES}"
        )
        create.add_argument("--expires-in-days", type=int, default=None)
        create.add_argument("--json", action="store_true")
        listing = sub.add_parser("list", help="list keys (prefixes, never secrets)")
        listing.add_argument("--project", required=True)
        listing.add_argument("--json", action="store_true")
        revoke = sub.add_parser("revoke", help="revoke a key by its prefix eng_<id>")
        revoke.add_argument("--project", required=True)
        revoke.add_argument("key", help="the key's prefix (eng_<id>) or the whole key")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            project = project_get(project_id=project_id_parse(options["project"]))
            getattr(self, f"_{options['action']}")(project, options)
        except (EngramError, ValueError) as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from exc

    def _create(self, project: Project, options: dict[str, Any]) -> None:
        days = options["expires_in_days"]
        issued = api_key_create(
            project=project,
            name=options["name"],
            actor=CLI_ACTOR,
            scopes=[s.strip() for s in options["scopes"].split(",") if s.strip()],
            expires_at=timezone.now() + timedelta(days=days) if days else None,
        )
        if options["json"]:
            self.stdout.write(
                json.dumps({"prefix": issued.api_key.prefix, "api_key": issued.plaintext})
            )
        else:
            self.stdout.write(f"API key (shown once, keep it secret): {issued.plaintext}")

    def _list(self, project: Project, options: dict[str, Any]) -> None:
        rows = [_describe(key) for key in api_key_list(project=project)]
        if options["json"]:
            self.stdout.write(json.dumps(rows))
            return
        for row in rows:
            self.stdout.write(
                f"{row['prefix']}  {row['status']:8}  scopes={','.join(row['scopes'])}  "
                f"last_used={row['last_used_at'] or '-'}  name={row['name']}"
            )

    def _revoke(self, project: Project, options: dict[str, Any]) -> None:
        key_id = options["key"].removeprefix("eng_").split("_", 1)[0]
        api_key_revoke(project=project, key_id=key_id, actor=CLI_ACTOR)
        self.stdout.write(f"revoked eng_{key_id}")


def _describe(key: ApiKey) -> dict[str, Any]:
    now = timezone.now()
    if key.revoked_at:
        status = "revoked"
    elif key.expires_at and key.expires_at <= now:
        status = "expired"
    else:
        status = "active"
    return {
        "prefix": key.prefix,
        "name": key.name,
        "scopes": key.scopes,
        "status": status,
        "created_at": key.created_at.isoformat(),
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
    }
