"""Staff accounts (/console/staff): create, roles and scope, password reset, leave, away."""
from __future__ import annotations

from webapp.console import bp  # noqa: F401 - the routes are added to the console's blueprint
