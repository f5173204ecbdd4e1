"""The audit trail: every action, sign-in, number shown, export, import and account change."""
from __future__ import annotations

from webapp.console import bp  # noqa: F401 - the routes are added to the console's blueprint
