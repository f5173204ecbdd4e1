"""Command-line entry points (flask --app webapp ...), one module per area."""
from __future__ import annotations

from flask import Flask


def register_cli(app: Flask) -> None:
    from webapp.cli import calendar, codes, deadlines, demo, figures, maintenance, outbox, privacy, registry, riders, signs, staff

    for module in (codes, riders, registry, demo, signs, deadlines, staff, outbox, maintenance, calendar, privacy, figures):
        app.cli.add_command(module.group)
