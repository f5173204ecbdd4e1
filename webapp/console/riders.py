"""Riders: pending riders to approve or refuse, invite codes, each rider's reports and points."""
from __future__ import annotations

from webapp.console import bp  # noqa: F401 - the routes are added to the console's blueprint
