"""The phone web page behind a plain camera scan of a building's code.

- GET /b/<code>: the building, a working report form, its contacts and open reports;
  POST /b/<code>/report files the form (webapp.h5.report).
- /t/<ticket_id>/<token>: the private follow link of a ticket filed there, its photos and
  the reporter's feedback (webapp.h5.follow).
- /<name>.txt and /b/<name>.txt: WeChat's verification files (webapp.h5.wechat_files).
- The reporter is a guest behind a cookie (webapp.h5.guest).

Views here only parse, call the domain, commit and render; every word on the pages is Chinese.
"""
from __future__ import annotations

from flask import Blueprint, render_template

from webapp.errors import DomainError

bp = Blueprint("h5", __name__)


def error_page(error: DomainError):
    """A domain error as a page (these routes answer people, never JSON)."""
    return (
        render_template("error.html", status=error.status, message=error.message),
        error.status,
    )


@bp.app_template_filter("local_time")
def local_time(value) -> str:
    """Show a UTC timestamp as Beijing time for people."""
    from zoneinfo import ZoneInfo

    if value is None:
        return ""
    return value.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


@bp.app_context_processor
def status_labels() -> dict:
    from webapp.tickets.models import STATUS_LABELS

    return {"status_labels": {status.value: label for status, label in STATUS_LABELS.items()}}


from webapp.h5 import follow, report, wechat_files  # noqa: E402,F401 - registers the routes
