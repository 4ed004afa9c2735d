"""The `tigris` command line: typer and rich live here and nowhere else.

Each command module parses options, calls `tigris.api` (or a domain function), and prints;
`app.py` holds the top-level group, the error printer and the list of sub-commands.
"""

from tigris.cli.app import app, main, validate_app

__all__ = ["app", "main", "validate_app"]
