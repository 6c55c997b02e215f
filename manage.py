#!/usr/bin/env python
"""Django's command-line utility for Engram."""

import os
import sys

# Schema changes run as the owner role; the application role may not create tables.
OWNER_COMMANDS = {"migrate", "sqlflush", "flush"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if len(sys.argv) > 1 and sys.argv[1] in OWNER_COMMANDS:
        os.environ.setdefault("ENGRAM_DB_ROLE", "owner")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
