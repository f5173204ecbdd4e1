"""The phone web page behind a plain camera scan of a building's code: /b/<code>."""
from __future__ import annotations

from flask import Blueprint, render_template

from webapp.domain import registry
from webapp.errors import DomainError

bp = Blueprint("h5", __name__)


@bp.get("/b/<string:code>")
def building_page(code: str):
    """The building, its contacts and its open reports, in Chinese, for a phone screen.

    An unknown code renders 404 and a revoked one 410, as pages rather than JSON.
    """
    try:
        view = registry.scan(code)
    except DomainError as error:
        return (
            render_template("error.html", status=error.status, message=error.message),
            error.status,
        )
    return render_template("h5/building.html", view=view, code=code)


@bp.app_template_filter("local_time")
def local_time(value) -> str:
    """Show a UTC timestamp as Beijing time for people."""
    from zoneinfo import ZoneInfo

    if value is None:
        return ""
    return value.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


@bp.app_context_processor
def status_labels() -> dict:
    from webapp.models.tickets import STATUS_LABELS

    return {"status_labels": {status.value: label for status, label in STATUS_LABELS.items()}}
