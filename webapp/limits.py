"""Abuse limits (Flask-Limiter): who may do how much, counted where every process sees it.

Storage: Redis when REDIS_URL is set (every gunicorn worker and every host share the counts),
else the process's memory (the demo, tests; each process then counts on its own:
ProcessMemoryStorage for fixed windows).
RATE_LIMIT_STRATEGY picks the window (fixed-window by default: one INCR per limit and request;
docs/operations.md "Abuse limits" has the measurements).

Keys (what one counter counts):
- the client address, request.remote_addr: behind nginx the address ProxyFix reads from
  X-Forwarded-For (TRUSTED_PROXY_COUNT, webapp/security.py);
- a printed code (`code_key`): one building's scans or submissions, so a flood of one building
  runs into its own limit and leaves every other building alone;
- a person: the mini-program's bearer token's person (miniprogram_api.security.person_key), a
  console user (`console_user_key`), a phone-page guest.

Who counts: Flask-Limiter counts the console's per-user limit (a blueprint limit); the
per-address budget of every API and phone-page path (`_address_budget`, before each request),
a view's own limits (`route_limit`: scans, submissions, uploads, sign-ins) and the caps below
are counted directly by the limiter's strategy (`limiter.limiter`: the same storage, strategy
and settings), which costs a fraction of Flask-Limiter's resolving of every limit of the app
for every request (docs/performance.md).

Every limit is a setting (a Flask-Limiter string such as "120/minute" or "50/day"), read per
request, so a test or an operator changes it without touching code; docs/operations.md lists
them. A refused request is a 429 in the contract's error shape with Retry-After (JSON for the
API, a Chinese page for the phone page and the console: webapp/errors.py).

Daily caps are limits with a one-day window counted only when a ticket is really filed
(`check_daily_caps` before, `count_daily_caps` after, the same counters for the API and the
phone page): REPORTS_PER_PERSON_PER_DAY, WISHES_PER_BUILDING_PER_DAY; and, on the phone page,
GUESTS_PER_ADDRESS_PER_HOUR (new guest identities, `cap_reached` / `count_cap`). With memory
storage they are per process, like every other limit.

If the storage fails (Redis down), the limits are skipped and the failure logged
(RATELIMIT_SWALLOW_ERRORS): residents keep reporting; nginx's own per-address limit stays.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from functools import lru_cache, partial, wraps

from flask import Flask, current_app, request
from flask_limiter import Limiter
from limits import parse
from limits.storage import Storage

from webapp.errors import TooManyRequests

API_PREFIX = "/api/"
PREFIX = "gridreport"  # RATELIMIT_KEY_PREFIX's default: the first part of every counter's key
PHONE_PAGE_PREFIXES = ("/b/", "/t/")


def client_address() -> str:
    """The client's address (after ProxyFix): the default key of every limit."""
    return "addr:" + (request.remote_addr or "unknown")


def code_key() -> str:
    """The printed code of the URL (/api/v1/scan/<code>, /b/<code>): one building's counter."""
    code = (request.view_args or {}).get("code") or ""
    return "code:" + code if code else ""


def body_code_key() -> str:
    """The printed code a JSON submission names ({"code": ...}); "" (no limit) without one."""
    body = request.get_json(silent=True)
    code = body.get("code") if isinstance(body, dict) else None
    return "code:" + code if isinstance(code, str) and code else ""


def console_user_key() -> str:
    """The signed-in console user, else the client address (the sign-in page)."""
    from flask_login import current_user
    from sqlalchemy.exc import SQLAlchemyError

    try:
        if current_user.is_authenticated:
            return "user:" + current_user.actor.person_id
    except SQLAlchemyError:
        recover_session()
        return ""
    return client_address()


def recover_session() -> None:
    """For a key function that met a database error (the database is down): the limiter
    swallows it (RATELIMIT_SWALLOW_ERRORS) and the limit is skipped, but the session's
    transaction stays broken and the view would meet a PendingRollbackError, a 500. Rolled
    back here, the view meets the database afresh and answers 503 with Retry-After."""
    from webapp.extensions import db

    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection is gone: the pool replaces it  # nosec B110  # nothing to do
        pass


def _setting_value(name: str) -> str:
    return str(current_app.config[name])


def setting(name: str):
    """A limit read from the app's settings at request time (tests and operators change it)."""
    return partial(_setting_value, name)


def _limited_path() -> bool:
    path = request.path
    return path.startswith(API_PREFIX) or path.startswith(PHONE_PAGE_PREFIXES)


limiter = Limiter(
    key_func=client_address,
    headers_enabled=False,  # Retry-After on a 429 only: X-RateLimit-* would cost a read per request
)


def _address_budget() -> None:
    """Every API path and the phone page: one per-address budget over all their routes
    (RATE_LIMIT_DEFAULT_PER_ADDRESS), counted before the request like a route_limit."""
    if _limited_path():
        _check("RATE_LIMIT_DEFAULT_PER_ADDRESS", _identifiers("address", client_address()), count=True)


def route_limit(setting_name: str, *, scope: str, key_func: Callable[[], str] = client_address):
    """A view's own limit: the setting `setting_name` (a limit string) per key_func() (no
    limit for ""), counted by the limiter's strategy and storage, directly.

    Put outermost, so that a refused request costs no parsing, no login and no query. Flask-
    Limiter's own route decorator resolves and filters every limit of the app twice per
    request (before the request and in the view's wrapper): on the submission, the busiest
    write, that was 7% of its CPU (docs/performance.md)."""

    def decorator(view):
        @wraps(view)
        def limited(*args, **kwargs):
            key = key_func()
            if key:
                _check(setting_name, _identifiers(scope, key), count=True)
            return view(*args, **kwargs)

        return limited

    return decorator


# The limits the doors put on their views.
scan_per_address = route_limit("RATE_LIMIT_SCAN_PER_ADDRESS", scope="scan-address")
scan_per_code = route_limit("RATE_LIMIT_SCAN_PER_CODE", scope="scan-code", key_func=code_key)
submit_per_address = route_limit("RATE_LIMIT_SUBMIT_PER_ADDRESS", scope="submit-address")
login_per_address = route_limit("RATE_LIMIT_LOGIN_PER_ADDRESS", scope="login-address")


class ProcessMemoryStorage(Storage):
    """The process's own fixed-window counts (the default without Redis), written to limits'
    public storage interface (`limits.storage.Storage`, registered by its STORAGE_SCHEME).

    limits' own `memory://` storage starts a timer thread after nearly every hit, and the thread
    walks every counter of the process (every person, code and address counted in the last
    day): under steady submissions, a thread and a walk of thousands of keys per request, the
    largest cost of a submission in the benchmark (docs/performance.md). Here a counter is
    read as ended once its window has passed, and the ended ones are swept out in the calling
    thread at most once per SWEEP_SECONDS. Fixed windows only: init_limits keeps `memory://`
    for the other strategies."""

    STORAGE_SCHEME = ["process-memory"]
    SWEEP_SECONDS = 1.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._counts: dict[str, list[float]] = {}  # key → [count, window's end (time.time())]
        self._lock = threading.Lock()
        self._swept_at = time.time()

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def _live(self, key: str, now: float) -> list[float] | None:
        entry = self._counts.get(key)
        return entry if entry is not None and entry[1] > now else None

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        with self._lock:
            if now - self._swept_at >= self.SWEEP_SECONDS:
                self._swept_at = now
                for ended in [k for k, (_, end) in self._counts.items() if end <= now]:
                    del self._counts[ended]
            entry = self._live(key, now)
            if entry is None:
                entry = self._counts[key] = [0, now + expiry]
            entry[0] += amount
            return int(entry[0])

    def get(self, key: str) -> int:
        entry = self._live(key, time.time())
        return int(entry[0]) if entry is not None else 0

    def get_expiry(self, key: str) -> float:
        now = time.time()
        entry = self._live(key, now)
        return entry[1] if entry is not None else now

    def check(self) -> bool:
        return True

    def reset(self) -> int:
        with self._lock:
            cleared = len(self._counts)
            self._counts.clear()
        return cleared

    def clear(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)


def init_limits(app: Flask) -> None:
    """Bind the limiter to the app: its storage, strategy and the console's per-user limit."""
    config = app.config
    config.setdefault("RATELIMIT_STRATEGY", config.get("RATE_LIMIT_STRATEGY") or "fixed-window")
    if not config.get("RATELIMIT_STORAGE_URI"):
        in_process = "process-memory://" if config["RATELIMIT_STRATEGY"] == "fixed-window" else "memory://"
        config["RATELIMIT_STORAGE_URI"] = config.get("REDIS_URL") or in_process
    if config["RATELIMIT_STORAGE_URI"].startswith(("redis://", "rediss://")):
        timeout = float(config.get("REDIS_TIMEOUT_SECONDS") or 2)
        config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS", {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        )
    config.setdefault("RATELIMIT_KEY_PREFIX", PREFIX)
    config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    config.setdefault("RATELIMIT_ENABLED", True)
    limiter.init_app(app)
    app.before_request(_address_budget)


_limited_blueprints: set[str] = set()


@limiter.request_filter
def _outside_limited_blueprints() -> bool:
    """Flask-Limiter's own check (before every request) holds only the console's per-user
    limit: any other request is exempt from it, and is not resolved against every limit of
    the app (the API's and the phone page's limits are counted directly: route_limit,
    _address_budget)."""
    return request.blueprint not in _limited_blueprints


def limit_console(blueprint) -> None:
    """Every console page: RATE_LIMIT_CONSOLE_PER_USER per signed-in user (per address before
    signing in). Views with their own limit (the sign-in post) have that one instead."""
    if blueprint.name in _limited_blueprints:  # one limiter serves every app of the process
        return
    _limited_blueprints.add(blueprint.name)
    limiter.limit(setting("RATE_LIMIT_CONSOLE_PER_USER"), key_func=console_user_key, scope="console")(
        blueprint
    )


def retry_after_seconds() -> int:
    """Seconds until the limit this request broke lets it through again (at least 1)."""
    try:
        current = limiter.current_limit
        if current is not None:
            return _seconds_until(current.reset_at, current.limit.get_expiry())
    except Exception:  # the storage failed meanwhile: a minute is a fair guess
        current_app.logger.warning("rate limit storage unreachable for Retry-After")
    return 60


def _seconds_until(reset_at: float, window_seconds: int) -> int:
    return max(1, min(int(window_seconds), math.ceil(reset_at - time.time())))


# --- caps counted by the code itself (daily caps, new guests) --------------------------------


@lru_cache(maxsize=64)
def _parsed(limit: str):
    """A limit string as limits reads it (a RateLimitItem, immutable), parsed once per text."""
    return parse(limit)


def _limit_of(setting_name: str):
    """The limit of a setting, or None while limits are off (RATELIMIT_ENABLED)."""
    config = current_app.config
    if not config.get("RATELIMIT_ENABLED", True):
        return None
    return _parsed(str(config[setting_name]))


def _refuse(item, identifiers: tuple) -> None:
    """Raise TooManyRequests (429) with the seconds until the window lets a request through."""
    reset_at, _remaining = limiter.limiter.get_window_stats(item, *identifiers)
    raise TooManyRequests(headers={"Retry-After": str(_seconds_until(reset_at, item.get_expiry()))})


def _check(setting_name: str, identifiers: tuple, *, count: bool) -> None:
    """Count one hit on a limit (count) or only test it; 429 once it is used up. If the
    storage fails (Redis down), the limit is skipped and the failure logged, as
    RATELIMIT_SWALLOW_ERRORS does for Flask-Limiter's own limits."""
    item = _limit_of(setting_name)
    if item is None:
        return
    strategy = limiter.limiter
    try:
        if (strategy.hit if count else strategy.test)(item, *identifiers):
            return
        _refuse(item, identifiers)
    except TooManyRequests:
        raise
    except Exception:
        current_app.logger.exception(
            "rate limit storage failed; %s not %s", setting_name, "counted" if count else "checked"
        )


def _identifiers(*parts: str) -> tuple:
    """A counter's identifiers, the app's RATELIMIT_KEY_PREFIX first, as Flask-Limiter keys its
    own: two deployments (or two test runs) on one Redis never share a counter."""
    return (current_app.config.get("RATELIMIT_KEY_PREFIX") or PREFIX, *parts)


def _cap_identifiers(setting_name: str, key: str) -> tuple:
    return _identifiers("cap", setting_name.lower(), key)


def cap_reached(setting_name: str, key: str) -> None:
    """Raise TooManyRequests (429, Retry-After) if the cap of `setting_name` is used up for key.

    Counts nothing: call count_cap once the counted thing really happened."""
    _check(setting_name, _cap_identifiers(setting_name, key), count=False)


def count_cap(setting_name: str, key: str) -> None:
    item = _limit_of(setting_name)
    if item is None:
        return
    try:
        limiter.limiter.hit(item, *_cap_identifiers(setting_name, key))
    except Exception:
        current_app.logger.exception("rate limit storage failed; cap %s not counted", setting_name)


def check_daily_caps(person_id: str, code: str, kind: str) -> None:
    """Before filing: tickets per person, and wishes per building, today (429 if used up)."""
    cap_reached("REPORTS_PER_PERSON_PER_DAY", "person:" + person_id)
    if kind == "wish":
        cap_reached("WISHES_PER_BUILDING_PER_DAY", "code:" + code)


def count_daily_caps(person_id: str, code: str, kind: str) -> None:
    """After a ticket was really filed (not a replay of its key, not a refusal)."""
    count_cap("REPORTS_PER_PERSON_PER_DAY", "person:" + person_id)
    if kind == "wish":
        count_cap("WISHES_PER_BUILDING_PER_DAY", "code:" + code)
