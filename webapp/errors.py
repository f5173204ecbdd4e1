"""Typed domain errors and the one module that maps them (and every HTTP error) to responses.

Every error leaves the API in one shape: {"code", "message", "errors"}; the message is for
people (zh-CN), the code for programs.
"""
from __future__ import annotations

from flask import Flask, current_app, jsonify, make_response, render_template, request
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from webapp.validation_messages import translate_errors


class DomainError(Exception):
    """headers: extra HTTP headers the error handler sends with the answer (e.g. Retry-After)."""

    status = 400
    code = "bad_request"
    message = "请求有误"
    headers: dict[str, str] | None = None

    def __init__(
        self, message: str | None = None, *, code: str | None = None, errors=None, headers=None
    ):
        super().__init__(message or self.message)
        if message:
            self.message = message
        if code:
            self.code = code
        self.errors = errors or {}
        if headers:
            self.headers = dict(headers)


class Invalid(DomainError):
    status = 422
    code = "validation_error"
    message = "提交的内容有误，请检查后重试"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"
    message = "请先登录"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    message = "您没有权限进行此操作"


class NotFound(DomainError):
    status = 404
    code = "not_found"
    message = "未找到"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    message = "操作冲突，请刷新后重试"


class InvalidTransition(Conflict):
    code = "invalid_transition"
    message = "当前状态下不能进行此操作"


class Gone(DomainError):
    status = 410
    code = "gone"
    message = "该二维码已停用"


class TooLarge(DomainError):
    status = 413
    code = "too_large"
    message = "上传的内容过大"


class UnsupportedMedia(DomainError):
    status = 415
    code = "unsupported_media_type"
    message = "不支持的文件类型"


class TooManyRequests(DomainError):
    status = 429
    code = "rate_limited"
    message = "操作太频繁，请稍后再试"


class DatabaseUnavailable(DomainError):
    """The database cannot be reached (down, restarting, refusing connections, timing out)."""

    status = 503
    code = "database_unavailable"
    message = "服务暂时不可用，请稍后再试"


class WeChatError(DomainError):
    """WeChat answered with an error code; errcode is WeChat's own (e.g. 43101: user refused)."""

    status = 502
    code = "wechat_error"
    message = "微信服务返回错误，请稍后再试"

    def __init__(self, message=None, *, errcode=None, errmsg=None, code=None, errors=None):
        super().__init__(message, code=code, errors=errors)
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatUnavailable(WeChatError):
    """WeChat could not be reached (network error, timeout, 5xx, "system busy")."""

    status = 503
    code = "wechat_unavailable"
    message = "微信服务暂时不可用，请稍后再试"


# Chinese texts for HTTP errors raised outside the domain (routing, parsing, limits).
HTTP_MESSAGES = {
    400: ("bad_request", "请求格式有误"),
    401: ("unauthorized", "请先登录"),
    403: ("forbidden", "您没有权限进行此操作"),
    404: ("not_found", "未找到"),
    405: ("method_not_allowed", "不支持的请求方式"),
    409: ("conflict", "操作冲突，请刷新后重试"),
    410: ("gone", "已停用"),
    413: ("too_large", "上传的内容过大"),
    415: ("unsupported_media_type", "不支持的文件类型"),
    422: ("validation_error", "提交的内容有误，请检查后重试"),
    429: ("rate_limited", "操作太频繁，请稍后再试"),
    500: ("internal_error", "服务器开小差了，请稍后再试"),
}


class ErrorSchema(Schema):
    """The one error shape, as the OpenAPI document describes it (flask-smorest's own has an
    integer `code` and a `status`, which no answer of ours carries)."""

    code = fields.String(required=True, metadata={"description": "机器可读的错误码，如 validation_error"})
    message = fields.String(required=True, metadata={"description": "给人看的中文说明"})
    errors = fields.Dict(
        keys=fields.String(),
        metadata={"description": "按字段列出的中文错误：{字段: [说明, ...]}；没有时为 {}"},
    )


def error_body(code: str, message: str, errors=None) -> dict:
    return {"code": code, "message": message, "errors": translate_errors(errors or {})}


def _wants_json() -> bool:
    if request.path.startswith(("/api/", "/wechat/")):
        return True
    if request.path == "/console" or request.path.startswith("/console/"):
        return False  # the staff console answers people: always a page with its menu
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


def _respond(status: int, code: str, message: str, errors=None, headers=None):
    if _wants_json():
        response = jsonify(error_body(code, message, errors))
    else:
        response = make_response(render_template("error.html", status=status, message=message))
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def handle_domain_error(error: DomainError):
        return _respond(error.status, error.code, error.message, error.errors, error.headers)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        status = error.code or 500
        original = getattr(error, "original_exception", None)  # raised after the view (a commit)
        if status == 500 and original is not None and is_database_unavailable(original):
            return database_unavailable_response(original)
        code, message = HTTP_MESSAGES.get(status, ("http_error", error.name))
        errors = None
        data = getattr(error, "data", None)  # webargs/flask-smorest validation details
        if data and isinstance(data, dict) and "messages" in data:
            errors = _flatten_locations(data["messages"])
        headers = dict(error.get_headers()) if status in (405, 429) else None
        if headers:
            headers.pop("Content-Type", None)
        return _respond(status, code, message, errors, headers)

    from flask_limiter import RateLimitExceeded
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    @app.errorhandler(RateLimitExceeded)
    def handle_rate_limited(error: RateLimitExceeded):
        from webapp.limits import retry_after_seconds

        code, message = HTTP_MESSAGES[429]
        return _respond(429, code, message, headers={"Retry-After": str(retry_after_seconds())})

    for error_class in (OperationalError, InterfaceError, PoolTimeout, *_driver_unavailable_errors()):
        app.register_error_handler(error_class, database_unavailable_response)

    @app.errorhandler(DBAPIError)
    def handle_database_error(error: DBAPIError):
        if error.connection_invalidated:  # the connection was lost under the statement
            return database_unavailable_response(error)
        return handle_unexpected(error)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        original = getattr(error, "original_exception", None)  # raised after the view (a commit)
        if original is not None and is_database_unavailable(original):
            return database_unavailable_response(original)
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        code, message = HTTP_MESSAGES[500]
        return _respond(500, code, message)


def database_unavailable_response(error: Exception):
    """The door's 503 with Retry-After for a database that cannot be reached now (the API's
    error shape, or the Chinese page); the session's connection given back, and the pool
    emptied when the connection itself was lost."""
    app = current_app
    app.logger.warning(
        "database unavailable on %s %s: %s", request.method, request.path, _first_line(error)
    )
    _discard_session(empty_pool=_connection_lost(error))
    unavailable = DatabaseUnavailable()
    retry_after = str(int(app.config.get("DB_UNAVAILABLE_RETRY_AFTER") or 5))
    return _respond(unavailable.status, unavailable.code, unavailable.message,
                    headers={"Retry-After": retry_after})


def _driver_unavailable_errors() -> tuple[type[Exception], ...]:
    """The driver's own errors for a server gone or unreachable: webapp/reads.py runs the
    busiest reads on psycopg's connection directly, so they arrive unwrapped."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return ()
    return (psycopg.OperationalError, psycopg.InterfaceError)


def is_database_unavailable(error: BaseException) -> bool:
    """Whether an error means the database cannot be reached now (503, not 500)."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(error, (OperationalError, InterfaceError, PoolTimeout, *_driver_unavailable_errors())):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def _connection_lost(error: BaseException) -> bool:
    """The server or the connection is gone (refused, shut down, broken), not a statement that
    timed out or waited for a lock on a healthy connection."""
    if getattr(error, "connection_invalidated", False):
        return True
    driver_error = getattr(error, "orig", None) or error
    sqlstate = getattr(driver_error, "sqlstate", None)
    # None: no server answer at all (refused, closed); 08: connection exception; 57P: the
    # server shut down or cannot accept connections now.
    return sqlstate is None or sqlstate.startswith(("08", "57P"))


def discard_lost_session(error: BaseException) -> None:
    """The session's ROLLBACK at a request's end failed because the database was lost
    (SQLAlchemy has dropped a connection it saw broken, and the failed ROLLBACK ended the
    transaction): nothing to answer, only the pool to empty when the server itself is gone."""
    current_app.logger.warning("database lost at a request's end: %s", _first_line(error))
    _discard_session(empty_pool=_connection_lost(error))


def _discard_session(*, empty_pool: bool) -> None:
    """Give the broken connection back; when the connection was lost, empty the pool too:
    after a database restart every pooled connection is dead, and each would fail one more
    request (SQLAlchemy's own invalidation does so for the errors it sees; webapp/reads.py's
    driver path does not)."""
    from webapp.extensions import db
    from webapp.reads import dispose_autocommit_engines

    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection is gone: the pool replaces it  # nosec B110  # nothing to do
        pass
    if empty_pool:
        try:
            db.engine.dispose()  # idle connections closed; those in use dropped when returned
            dispose_autocommit_engines()
        except Exception:  # noqa: BLE001  # nosec B110  # the pool is being dropped anyway
            pass


def _flatten_locations(messages: dict) -> dict:
    """webargs nests errors by location (json, query, ...); clients want them by field."""
    flat: dict = {}
    for location_errors in messages.values():
        if isinstance(location_errors, dict):
            flat.update(location_errors)
        else:
            flat.setdefault("_schema", []).extend(location_errors)
    return flat
