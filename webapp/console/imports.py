"""Imports: upload the one-table spreadsheet, see every change and bad row, then apply."""
from __future__ import annotations

from webapp.console import bp  # noqa: F401 - the routes are added to the console's blueprint
