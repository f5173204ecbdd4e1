"""Settings read from the environment through one config object per environment."""
from __future__ import annotations

import os
from pathlib import Path

INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", Path.cwd() / "instance"))


def _flag(name: str, default: str = "0") -> bool:
    return os.environ.get(name, default).strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Development defaults: the embedded SQLite demo, no WeChat credentials."""

    ENV_NAME = "development"
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-secret-do-not-use-in-production")
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'gridreport.sqlite3'}"
    )
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    DEV_LOGIN = _flag("DEV_LOGIN")
    REDIS_URL = os.environ.get("REDIS_URL", "")
    WECHAT_APPID = os.environ.get("WECHAT_APPID", "")
    WECHAT_SECRET = os.environ.get("WECHAT_SECRET", "")
    WECHAT_TOKEN = os.environ.get("WECHAT_TOKEN", "")
    WECHAT_AES_KEY = os.environ.get("WECHAT_AES_KEY", "")
    WECHAT_TIMEOUT_SECONDS = float(os.environ.get("WECHAT_TIMEOUT_SECONDS", "5"))
    UPLOAD_DIR = os.environ.get("UPLOAD_DIR", str(INSTANCE_DIR / "photos"))
    TIMEZONE = "Asia/Shanghai"
    # How long a process may serve building details from memory on the scan path.
    SCAN_CACHE_SECONDS = float(os.environ.get("SCAN_CACHE_SECONDS", "30"))

    # flask-smorest / OpenAPI
    API_TITLE = "随手拍 · 心语心愿 mini-program API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"
    JSON_AS_ASCII = False

    @classmethod
    def check(cls) -> None:
        """Refuse to start with settings that cannot work; the demo needs none."""


class DevelopmentConfig(Config):
    pass


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "test-secret"
    DEV_LOGIN = True
    SCAN_CACHE_SECONDS = 0.0


class ProductionConfig(Config):
    ENV_NAME = "production"
    DEV_LOGIN = False
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 5}

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
        if _flag("DEV_LOGIN"):
            raise RuntimeError("DEV_LOGIN must not be enabled in production")


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
