"""Settings read from the environment through one config object per environment."""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", Path.cwd() / "instance"))


def _flag(name: str, default: str = "0") -> bool:
    return os.environ.get(name, default).strip().lower() in {"1", "true", "yes", "on"}


def _wechat_templates() -> dict:
    """Subscribe-message templates per notice kind: WECHAT_TEMPLATES as JSON
    ({"ticket_dispatched": "<id>" | {"id": "<id>", "fields": {"thing2": "category", ...}}}),
    then WECHAT_TEMPLATE_<KIND> (e.g. WECHAT_TEMPLATE_TICKET_RESOLVED=<id>) on top."""
    import json

    raw = os.environ.get("WECHAT_TEMPLATES", "").strip()
    templates = json.loads(raw) if raw else {}
    if not isinstance(templates, dict):
        raise RuntimeError("WECHAT_TEMPLATES must be a JSON object")
    prefix = "WECHAT_TEMPLATE_"
    for name, value in os.environ.items():
        if name.startswith(prefix) and value.strip():
            templates[name[len(prefix):].lower()] = value.strip()
    return templates


# subscribeMessage.send's miniprogram_state and lang: the values WeChat takes.
MINIPROGRAM_STATES = ("developer", "trial", "formal")
MESSAGE_LANGS = ("zh_CN", "en_US", "zh_HK", "zh_TW")


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    """A setting that must be one of `allowed`: anything else stops the app at start-up."""
    value = os.environ.get(name, "").strip() or default
    if value not in allowed:
        raise RuntimeError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _long_term_templates(templates: dict) -> frozenset[str]:
    """WECHAT_LONG_TERM_TEMPLATES: the ids (comma- or space-separated) of the long-term
    subscription templates (长期订阅); each must be an id WECHAT_TEMPLATES gives a kind."""
    ids = frozenset(os.environ.get("WECHAT_LONG_TERM_TEMPLATES", "").replace(",", " ").split())
    used = {str(t.get("id") if isinstance(t, dict) else t) for t in templates.values()}
    unknown = sorted(ids - used)
    if unknown:
        raise RuntimeError(
            "WECHAT_LONG_TERM_TEMPLATES names template ids no kind of notice uses "
            f"(WECHAT_TEMPLATES, WECHAT_TEMPLATE_<KIND>): {', '.join(unknown)}"
        )
    return ids


DEVELOPMENT_SECRET_KEY = "dev-only-secret-do-not-use-in-production"  # nosec B105  # the published dev default: production refuses it
SECRET_KEY_MIN_BYTES = 32


class Config:
    """Development defaults: the embedded SQLite demo, no WeChat credentials."""

    ENV_NAME = "development"
    SECRET_KEY = os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
    # The secret(s) before a rotation (comma-separated): what they signed still verifies
    # (follow links, open forms, console sessions...; docs/operations.md "Rotating SECRET_KEY").
    SECRET_KEY_PREVIOUS = os.environ.get("SECRET_KEY_PREVIOUS", "")
    SECRET_KEY_FALLBACKS = [s.strip() for s in SECRET_KEY_PREVIOUS.split(",") if s.strip()]
    # Values made before keys were derived per purpose (webapp/keys.py) still verify; 0 once
    # every follow link and wish of before has been re-keyed or has expired.
    ACCEPT_LEGACY_SECRET_KEY = _flag("ACCEPT_LEGACY_SECRET_KEY", "1")
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'gridreport.sqlite3'}"
    )
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    # PostgreSQL: plan each prepared statement once (plan_cache_mode=force_generic_plan). The
    # app's statements are keyed lookups whose best plan does not depend on the values, and
    # the work queue's takes three times longer to plan than to run; predicates that must
    # match a partial index are written as literals (models/tickets.py). 0: PostgreSQL's
    # default (a custom plan per execution until a generic one looks as cheap).
    DB_GENERIC_PLANS = _flag("DB_GENERIC_PLANS", "1")
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    DEV_LOGIN = _flag("DEV_LOGIN")
    REDIS_URL = os.environ.get("REDIS_URL", "")
    WECHAT_APPID = os.environ.get("WECHAT_APPID", "")
    WECHAT_SECRET = os.environ.get("WECHAT_SECRET", "")
    WECHAT_TOKEN = os.environ.get("WECHAT_TOKEN", "")
    WECHAT_AES_KEY = os.environ.get("WECHAT_AES_KEY", "")
    # WeChat's callback accepts a push whose signed timestamp is this close to now (either way).
    WECHAT_PUSH_MAX_AGE_SECONDS = int(os.environ.get("WECHAT_PUSH_MAX_AGE_SECONDS", "300"))
    # WeChat's verification files (*.txt), served at /<name>.txt and /b/<name>.txt.
    WECHAT_VERIFY_DIR = os.environ.get("WECHAT_VERIFY_DIR", "")
    WECHAT_TIMEOUT_SECONDS = float(os.environ.get("WECHAT_TIMEOUT_SECONDS", "5"))
    # Where WeChat's server API is reached instead of https://api.weixin.qq.com: an egress proxy,
    # or a local stand-in for WeChat (tests/webapp/test_scale_out.py). Empty: WeChat itself.
    WECHAT_API_BASE = os.environ.get("WECHAT_API_BASE", "")
    UPLOAD_DIR = os.environ.get("UPLOAD_DIR", str(INSTANCE_DIR / "photos"))
    # Notifications: template ids per kind (placeholders "demo_<kind>" when absent) and the outbox.
    WECHAT_TEMPLATES = _wechat_templates()
    WECHAT_LONG_TERM_TEMPLATES = _long_term_templates(WECHAT_TEMPLATES)
    WECHAT_MESSAGE_PAGE = os.environ.get("WECHAT_MESSAGE_PAGE", "pages/ticket/detail?id={ticket_id}")
    # The mini-program version a message opens, and the language of its "进入小程序查看".
    WECHAT_MINIPROGRAM_STATE = _choice("WECHAT_MINIPROGRAM_STATE", "formal", MINIPROGRAM_STATES)
    WECHAT_MESSAGE_LANG = _choice("WECHAT_MESSAGE_LANG", "zh_CN", MESSAGE_LANGS)
    OUTBOX_MAX_ATTEMPTS = int(os.environ.get("OUTBOX_MAX_ATTEMPTS", "5"))
    OUTBOX_BACKOFF_SECONDS = float(os.environ.get("OUTBOX_BACKOFF_SECONDS", "60"))
    OUTBOX_BACKOFF_MAX_SECONDS = float(os.environ.get("OUTBOX_BACKOFF_MAX_SECONDS", "3600"))
    # Longer than the worst send: token lock wait + fetch + send + replacing a refused token
    # (two fetches at most) + resend, about 15 x WECHAT_TIMEOUT (webapp/wechat.py).
    OUTBOX_LEASE_SECONDS = float(os.environ.get("OUTBOX_LEASE_SECONDS", "120"))
    # Shared WeChat access token lives in Redis under this prefix (per process without REDIS_URL).
    WECHAT_TOKEN_PREFIX = os.environ.get("WECHAT_TOKEN_PREFIX", "gridreport:wechat")
    # Longest wait for Redis to connect or answer; a Redis down or hung fails the WeChat call.
    REDIS_TIMEOUT_SECONDS = float(os.environ.get("REDIS_TIMEOUT_SECONDS", "2"))
    TOKEN_TTL_SECONDS = int(os.environ.get("TOKEN_TTL_SECONDS", str(7 * 24 * 3600)))
    # How long a process may serve a checked token's actor from memory (webapp/people/auth.py
    # _ActorCache): a logout elsewhere or a change of staff roles takes effect within it; 0 off.
    AUTH_CACHE_SECONDS = float(os.environ.get("AUTH_CACHE_SECONDS", "10"))
    PHOTO_MAX_BYTES = int(os.environ.get("PHOTO_MAX_BYTES", str(10 * 1024 * 1024)))
    PHOTO_MAX_PIXELS = int(os.environ.get("PHOTO_MAX_PIXELS", "40000000"))
    # Bounded upload memory (webapp/tickets/photos.py): the stored photo's long side (JPEG is
    # decoded at 1/2, 1/4 or 1/8 scale when that still covers it); decoded pixels per request
    # (the phone form posts up to nine photos); photos decoded at once per process, and how
    # long an upload waits for a turn before 503; malloc_trim after a burst. 0 turns each off.
    PHOTO_MAX_SIDE = int(os.environ.get("PHOTO_MAX_SIDE", "2560"))
    PHOTO_MAX_REQUEST_PIXELS = int(os.environ.get("PHOTO_MAX_REQUEST_PIXELS", "120000000"))
    PHOTO_DECODES_PER_PROCESS = int(os.environ.get("PHOTO_DECODES_PER_PROCESS", "2"))
    PHOTO_DECODE_WAIT_SECONDS = float(os.environ.get("PHOTO_DECODE_WAIT_SECONDS", "10"))
    PHOTO_MALLOC_TRIM = _flag("PHOTO_MALLOC_TRIM", "1")
    # --- Photo storage (webapp/photo_store.py; docs/operations.md "Photo storage") ---
    # local: files under UPLOAD_DIR (the default). s3: objects in the private bucket S3_BUCKET
    # (AWS, MinIO, OSS/COS through their S3 API at S3_ENDPOINT_URL), under S3_KEY_PREFIX.
    # Credentials: S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, else boto3's own chain (AWS_*
    # variables, an instance role). Every call gives up after S3_MAX_ATTEMPTS attempts of at
    # most S3_CONNECT_TIMEOUT_SECONDS to connect and S3_READ_TIMEOUT_SECONDS per read: 503.
    PHOTO_STORAGE = _choice("PHOTO_STORAGE", "local", ("local", "s3"))
    S3_BUCKET = os.environ.get("S3_BUCKET", "")
    if PHOTO_STORAGE == "s3" and not S3_BUCKET:
        raise RuntimeError("PHOTO_STORAGE=s3 needs S3_BUCKET (docs/operations.md, Photo storage)")
    S3_KEY_PREFIX = os.environ.get("S3_KEY_PREFIX", "photos/")
    S3_ENDPOINT_URL = os.environ.get("S3_ENDPOINT_URL", "")
    S3_REGION = os.environ.get("S3_REGION", "")
    S3_ACCESS_KEY_ID = os.environ.get("S3_ACCESS_KEY_ID", "")
    S3_SECRET_ACCESS_KEY = os.environ.get("S3_SECRET_ACCESS_KEY", "")
    # path (MinIO, most self-hosted), virtual (OSS requires it), auto (boto3 decides).
    S3_ADDRESSING_STYLE = _choice("S3_ADDRESSING_STYLE", "auto", ("auto", "path", "virtual"))
    S3_CONNECT_TIMEOUT_SECONDS = float(os.environ.get("S3_CONNECT_TIMEOUT_SECONDS", "2"))
    S3_READ_TIMEOUT_SECONDS = float(os.environ.get("S3_READ_TIMEOUT_SECONDS", "5"))
    S3_MAX_ATTEMPTS = int(os.environ.get("S3_MAX_ATTEMPTS", "2"))
    # Connections kept to the bucket per process: at least gunicorn's --threads.
    S3_MAX_POOL_CONNECTIONS = int(os.environ.get("S3_MAX_POOL_CONNECTIONS", "10"))
    # --- end of photo storage ---
    # Whole request body; Werkzeug answers 413 beyond it before anything is parsed.
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", str(12 * 1024 * 1024)))
    TIMEZONE = "Asia/Shanghai"
    # How long a process may serve building details from memory on the scan path.
    SCAN_CACHE_SECONDS = float(os.environ.get("SCAN_CACHE_SECONDS", "30"))
    # How long a process keeps the working-day calendar (webapp/tickets/calendar.py) in memory;
    # an edit shows at once in the process that made it, in the others within this time.
    CALENDAR_CACHE_SECONDS = float(os.environ.get("CALENDAR_CACHE_SECONDS", "60"))
    # A street's signs are printed in the background: on RQ (queue SIGN_JOB_QUEUE, a worker
    # started by `flask signs worker`) when REDIS_URL is set, else in a thread of the web
    # process. The PDFs go to SIGN_JOB_DIR, which the worker and the web processes must share.
    SIGN_JOB_QUEUE = os.environ.get("SIGN_JOB_QUEUE", "gridreport-signs")
    SIGN_JOB_DIR = os.environ.get("SIGN_JOB_DIR", str(INSTANCE_DIR / "sign_jobs"))
    SIGN_JOB_KEEP_DAYS = float(os.environ.get("SIGN_JOB_KEEP_DAYS", "7"))
    # The console's import keeps an uploaded file here between its preview and its apply.
    IMPORT_UPLOAD_DIR = os.environ.get("IMPORT_UPLOAD_DIR", str(INSTANCE_DIR / "imports"))
    # The deadline command (flask deadlines run): warn the handler once this share of a
    # deadline's window has passed; climb one more rung per this many overdue hours; close
    # resolved tickets nobody rated after this many days; rows per locked batch.
    DEADLINE_WARNING_FRACTION = float(os.environ.get("DEADLINE_WARNING_FRACTION", "0.8"))
    ESCALATION_STEP_HOURS = float(os.environ.get("ESCALATION_STEP_HOURS", "24"))
    AUTO_CLOSE_DAYS = float(os.environ.get("AUTO_CLOSE_DAYS", "7"))
    DEADLINE_BATCH_SIZE = int(os.environ.get("DEADLINE_BATCH_SIZE", "500"))
    # How long a staff bind code (flask staff bind-code) stays valid.
    BIND_CODE_HOURS = float(os.environ.get("BIND_CODE_HOURS", "24"))
    # Console sign-in (webapp/people/passwords.py): LOGIN_MAX_FAILURES wrong passwords in a row
    # lock an account for LOGIN_LOCK_MINUTES; LOGIN_MAX_FAILURES_PER_ADDRESS failures from one
    # client address within LOGIN_LOCK_MINUTES refuse its attempts until they age out.
    LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", "5"))
    LOGIN_LOCK_MINUTES = float(os.environ.get("LOGIN_LOCK_MINUTES", "15"))
    LOGIN_MAX_FAILURES_PER_ADDRESS = int(os.environ.get("LOGIN_MAX_FAILURES_PER_ADDRESS", "20"))
    # The console's session cookie (Flask-Login): void after this long without a request.
    CONSOLE_SESSION_HOURS = float(os.environ.get("CONSOLE_SESSION_HOURS", "12"))
    PERMANENT_SESSION_LIFETIME = timedelta(hours=CONSOLE_SESSION_HOURS)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False  # production: True
    REMEMBER_COOKIE_HTTPONLY = True  # the console offers no "remember me"; flags all the same
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = False  # production: True
    SESSION_PROTECTION = "basic"
    # CSRF (Flask-WTF): checked by the console on its own forms only; the mini-program's API
    # (bearer tokens), the phone page (its signed form token) and WeChat's callback have theirs.
    WTF_CSRF_CHECK_DEFAULT = False
    WTF_CSRF_TIME_LIMIT = None  # a form's token lives as long as its session
    # The demo's one password for every staff account (flask demo setup); never in production.
    DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "gridreport-demo")
    # Proxies in front of the app that append to X-Forwarded-For (nginx: 1); the client address
    # of lock-outs and the audit trail is read through them. 0: the socket's peer.
    TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
    # Abuse limits (webapp/limits.py): Flask-Limiter strings ("<n>/<second|minute|hour|day>"),
    # counted in Redis when REDIS_URL is set, else per process. Values a person trying the
    # product by hand never meets; a flood meets them at once.
    RATE_LIMIT_STRATEGY = os.environ.get("RATE_LIMIT_STRATEGY", "fixed-window")
    RATE_LIMIT_DEFAULT_PER_ADDRESS = os.environ.get("RATE_LIMIT_DEFAULT_PER_ADDRESS", "600/minute")
    RATE_LIMIT_SCAN_PER_ADDRESS = os.environ.get("RATE_LIMIT_SCAN_PER_ADDRESS", "120/minute")
    RATE_LIMIT_SCAN_PER_CODE = os.environ.get("RATE_LIMIT_SCAN_PER_CODE", "300/minute")
    RATE_LIMIT_SUBMIT_PER_PERSON = os.environ.get("RATE_LIMIT_SUBMIT_PER_PERSON", "10/minute")
    RATE_LIMIT_SUBMIT_PER_ADDRESS = os.environ.get("RATE_LIMIT_SUBMIT_PER_ADDRESS", "30/minute")
    RATE_LIMIT_SUBMIT_PER_CODE = os.environ.get("RATE_LIMIT_SUBMIT_PER_CODE", "60/minute")
    RATE_LIMIT_UPLOAD_PER_PERSON = os.environ.get("RATE_LIMIT_UPLOAD_PER_PERSON", "30/minute")
    RATE_LIMIT_LOGIN_PER_ADDRESS = os.environ.get("RATE_LIMIT_LOGIN_PER_ADDRESS", "30/minute")
    RATE_LIMIT_CONSOLE_PER_USER = os.environ.get("RATE_LIMIT_CONSOLE_PER_USER", "600/minute")
    REPORTS_PER_PERSON_PER_DAY = os.environ.get("REPORTS_PER_PERSON_PER_DAY", "50/day")
    WISHES_PER_BUILDING_PER_DAY = os.environ.get("WISHES_PER_BUILDING_PER_DAY", "100/day")
    GUESTS_PER_ADDRESS_PER_HOUR = os.environ.get("GUESTS_PER_ADDRESS_PER_HOUR", "30/hour")
    # A database that cannot be reached answers 503 with this Retry-After (webapp/errors.py).
    DB_UNAVAILABLE_RETRY_AFTER = int(os.environ.get("DB_UNAVAILABLE_RETRY_AFTER", "5"))
    # --- Personal data (webapp/privacy; docs/privacy.md) ---
    # The key of phone numbers at rest and of their lookup hashes (at least 32 bytes; required
    # in production; empty elsewhere: derived from SECRET_KEY), the key(s) before a rotation
    # (comma-separated, read only), and how many days after a ticket is closed `flask privacy
    # purge` removes its photos and personal fields.
    PERSONAL_DATA_KEY = os.environ.get("PERSONAL_DATA_KEY", "")
    PERSONAL_DATA_KEY_PREVIOUS = os.environ.get("PERSONAL_DATA_KEY_PREVIOUS", "")
    PERSONAL_DATA_RETENTION_DAYS = float(os.environ.get("PERSONAL_DATA_RETENTION_DAYS", "365"))
    # --- end of personal data ---

    # flask-smorest / OpenAPI
    API_TITLE = "随手拍 · 心语心愿 mini-program API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"
    API_SPEC_OPTIONS = {
        "info": {
            "description": (
                "Errors: one shape, {code, message, errors}, messages in Chinese (see Error). "
                "Text anywhere in a request (path values, query, form fields, JSON strings and "
                "keys) must not hold a NUL character or a lone surrogate: 422 "
                "invalid_characters, naming the field. Idempotency-Key: 1 to 100 characters. "
                "cursor: the next_cursor of the previous page, as given."
            )
        }
    }
    JSON_AS_ASCII = False

    @classmethod
    def check(cls) -> None:
        """Refuse to start with settings that cannot work; the demo needs none."""


class DevelopmentConfig(Config):
    pass


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "test-secret"  # nosec B105  # the test suite's configuration
    DEV_LOGIN = True
    SCAN_CACHE_SECONDS = 0.0
    AUTH_CACHE_SECONDS = 0.0
    CALENDAR_CACHE_SECONDS = 0.0
    # No test is throttled by accident: the limit tests set small limits on their own app.
    RATE_LIMIT_DEFAULT_PER_ADDRESS = "1000000/minute"
    RATE_LIMIT_SCAN_PER_ADDRESS = "1000000/minute"
    RATE_LIMIT_SCAN_PER_CODE = "1000000/minute"
    RATE_LIMIT_SUBMIT_PER_PERSON = "1000000/minute"
    RATE_LIMIT_SUBMIT_PER_ADDRESS = "1000000/minute"
    RATE_LIMIT_SUBMIT_PER_CODE = "1000000/minute"
    RATE_LIMIT_UPLOAD_PER_PERSON = "1000000/minute"
    RATE_LIMIT_LOGIN_PER_ADDRESS = "1000000/minute"
    RATE_LIMIT_CONSOLE_PER_USER = "1000000/minute"
    REPORTS_PER_PERSON_PER_DAY = "1000000/day"
    WISHES_PER_BUILDING_PER_DAY = "1000000/day"
    GUESTS_PER_ADDRESS_PER_HOUR = "1000000/hour"


class ProductionConfig(Config):
    ENV_NAME = "production"
    DEV_LOGIN = False
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    DEMO_PASSWORD = ""  # nosec B105  # empty: production has no demo accounts
    # Behind the documented nginx: its X-Forwarded-For names the client.
    TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "1"))
    # No pre-ping by default: it costs a round trip on every request (about a third of the
    # scan's throughput on PostgreSQL, see bench/run.py). Connections are recycled instead;
    # after a database restart the first request meeting a dead connection answers 503 with
    # Retry-After and empties the pool (webapp/errors.py), which the client retries
    # (submissions are idempotent). DB_POOL_PRE_PING=1 trades speed for that one 503.
    SQLALCHEMY_ENGINE_OPTIONS = {
        "pool_pre_ping": _flag("DB_POOL_PRE_PING"),
        "pool_recycle": 1800,
        "pool_size": 5,
        "max_overflow": 5,
    }

    @classmethod
    def check(cls) -> None:
        missing = [
            name
            for name in ("SECRET_KEY", "DATABASE_URL", "PUBLIC_BASE_URL")
            if not os.environ.get(name)
        ]
        if missing:
            raise RuntimeError(
                "production configuration refuses to start without: " + ", ".join(missing)
            )
        secret = os.environ["SECRET_KEY"]
        if secret == DEVELOPMENT_SECRET_KEY or len(secret.encode("utf-8")) < SECRET_KEY_MIN_BYTES:
            raise RuntimeError(
                "production configuration refuses to start: SECRET_KEY must be at least "
                f"{SECRET_KEY_MIN_BYTES} bytes and not the published development default. It keys "
                "the follow links, the anonymous-wish hash and the console's sessions. Generate "
                "one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        if _flag("DEV_LOGIN"):
            raise RuntimeError("DEV_LOGIN must not be enabled in production")
        wechat = os.environ.get("WECHAT_APPID") and os.environ.get("WECHAT_SECRET")
        if wechat and not os.environ.get("REDIS_URL"):
            raise RuntimeError(
                "production configuration refuses to start: WECHAT_APPID and WECHAT_SECRET are "
                "set but REDIS_URL is not. Every process (gunicorn workers, outbox drainers, cron "
                "commands) must share WeChat's access token through Redis: set REDIS_URL, e.g. "
                "redis://127.0.0.1:6379/0"
            )
        _check_personal_data_key(secret)


def _check_personal_data_key(secret_key: str) -> None:
    """Production: PERSONAL_DATA_KEY set, at least 32 bytes, not SECRET_KEY (docs/privacy.md)."""
    key = os.environ.get("PERSONAL_DATA_KEY", "").strip()
    if len(key.encode("utf-8")) < SECRET_KEY_MIN_BYTES or key == secret_key or key == DEVELOPMENT_SECRET_KEY:
        raise RuntimeError(
            "production configuration refuses to start: PERSONAL_DATA_KEY must be set, at least "
            f"{SECRET_KEY_MIN_BYTES} bytes and other than SECRET_KEY. It seals the phone numbers "
            "stored; keep it apart from the database backups. Generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    retention = os.environ.get("PERSONAL_DATA_RETENTION_DAYS", "365")
    if float(retention) <= 0:
        raise RuntimeError("PERSONAL_DATA_RETENTION_DAYS must be a positive number of days")


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_from_env() -> type[Config]:
    name = os.environ.get("APP_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"APP_ENV must be one of {sorted(CONFIGS)}, not {name!r}") from None
