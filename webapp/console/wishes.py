"""The wish box (心语心愿): a separate inbox for wish readers; anonymous wishes show no identity."""
from __future__ import annotations

from webapp.console import bp  # noqa: F401 - the routes are added to the console's blueprint
