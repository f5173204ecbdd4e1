"""The staff web console: sign-in, the work queue, a ticket's timeline, notifications, sign PDFs.

Staff sign in with their username (their code in the one table, e.g. P011) and a password
(webapp.people.passwords); the session is Flask-Login's, in the signed session cookie. Every
form carries a CSRF token (Flask-WTF), checked on every POST here before the view runs. In the
demo (DEV_LOGIN) the sign-in page also lists every staff account to pick from. The console's
answers are pages, errors included (error.html with the console's menu), never JSON.

- webapp.console.signin: sign-in, sign-out, who is signed in (`staff_required`)
- webapp.console.work: the queue, a ticket and its actions, the notifications sent
- webapp.console.wishes: the wish box; webapp.console.riders: riders and invites
- webapp.console.accounts: staff accounts (/console/staff)
- webapp.console.signs: signs and codes; webapp.console.imports: the one-table import
- webapp.console.calendar: the working-day calendar; webapp.console.audit: the audit trail
- webapp.console.exports: the queue and the dashboard as XLSX and CSV, a street's monthly report
"""
from __future__ import annotations

from flask import Blueprint, has_request_context, render_template, request
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect

from webapp.people.models import ROLE_LABELS
from webapp.tickets.models import STATUS_LABELS

bp = Blueprint("console", __name__, url_prefix="/console")

class ConsoleLoginManager(LoginManager):
    def _update_remember_cookie(self, response):
        """Flask-Login's hook after every request of the app: only the console's have a session
        to look at (reading it elsewhere would add Vary: Cookie to the API's answers)."""
        if not _is_console_path():
            return response
        return super()._update_remember_cookie(response)


login_manager = ConsoleLoginManager()
login_manager.login_view = "console.login"
login_manager.login_message = None  # the sign-in page says "请先登录" itself
csrf = CSRFProtect()

CSRF_MESSAGE = "页面已过期或来源无法确认，操作未执行。请返回刷新页面后重试。"


@bp.record_once
def _init_extensions(state) -> None:
    login_manager.init_app(state.app, add_context_processor=False)
    csrf.init_app(state.app)  # checks nothing by itself: WTF_CSRF_CHECK_DEFAULT is off


@bp.before_request
def _check_csrf() -> None:
    """Every POST to the console carries the token of a form the console rendered (400)."""
    csrf.protect()


@bp.after_app_request
def _no_store(response):
    """Console pages (and their error pages) show personal data: no cache keeps them."""
    if _is_console_path():
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(CSRFError)
def _csrf_failed(error: CSRFError):
    if request.endpoint in ("console.login_post", "console.login_demo"):
        from webapp.console.signin import login_page

        return login_page(error="页面已过期，请重新输入后登录。", status=400)
    return render_template("error.html", status=400, message=CSRF_MESSAGE), 400


def _is_console_path() -> bool:
    return request.path == "/console" or request.path.startswith("/console/")


@bp.app_context_processor
def console_globals() -> dict:
    values = {
        "ticket_status_labels": {s.value: label for s, label in STATUS_LABELS.items()},
        "role_labels": {**{role.value: label for role, label in ROLE_LABELS.items()}, "rider": "骑手"},
    }
    if has_request_context() and _is_console_path():
        actor = _signed_in_actor()
        values["console_actor"] = actor
        values["console_menu"] = menu_for(actor) if actor is not None else []
    return values


# The console's menu: (path, label, who sees it). A page checks its own rule as well.
_SUPERVISORS = frozenset({"admin", "street_staff", "community_staff"})
MENU = (
    ("/console/", "工单", None),
    ("/console/dashboard", "数据统计", None),
    ("/console/wishes", "心语心愿", frozenset({"wish_reader", "admin"})),
    ("/console/riders", "骑手", _SUPERVISORS),
    ("/console/staff", "人员账号", frozenset({"admin", "community_staff"})),
    ("/console/signs", "公示牌", _SUPERVISORS),
    ("/console/imports", "数据导入", frozenset({"admin"})),
    ("/console/calendar", "工作日历", frozenset({"admin"})),
    ("/console/audit", "操作日志", frozenset({"admin"})),
    ("/console/notifications", "消息通知", _SUPERVISORS),
)


def menu_for(actor) -> list[tuple[str, str]]:
    return [(path, label) for path, label, roles in MENU if roles is None or actor.roles & roles]


def _signed_in_actor():
    """Who the console's menu names, or None; an error page must render even if this fails."""
    try:
        return current_user.actor if current_user.is_authenticated else None
    except Exception:  # noqa: BLE001 - e.g. a 500 page while the database is down
        return None


from webapp.console import (  # noqa: E402,F401 - registers the routes
    accounts,
    audit,
    calendar,
    dashboard,
    exports,
    imports,
    riders,
    signin,
    signs,
    wishes,
    work,
)
