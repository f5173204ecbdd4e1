"""The working-day calendar: holidays and make-up working days that deadlines count."""
from __future__ import annotations

from webapp.console import bp  # noqa: F401 - the routes are added to the console's blueprint
