"""The real app for gunicorn in the scan benchmark: `gunicorn --preload bench.scan_wsgi:app`.

Exactly `webapp.create_app()` (APP_ENV=production from the environment), except that
BENCH_ENGINE_OPTIONS (JSON, from run.py --engine-options) is merged into the configured
SQLALCHEMY_ENGINE_OPTIONS, to measure pool settings. With
BENCH_PREFILL_CODES=<file> it first scans every code of the file once through the real
scan.scan, in gunicorn's master before the workers fork (hence --preload), so that every
worker starts with each building's static part in its per-process cache; the engine's pool is
then emptied (and the autocommit engines') so that no connection is shared across the fork.
"""
from __future__ import annotations

import json
import os

from webapp import create_app
from webapp.config import config_from_env

_overrides = {}
if os.environ.get("BENCH_ENGINE_OPTIONS"):
    _overrides["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **config_from_env().SQLALCHEMY_ENGINE_OPTIONS,
        **json.loads(os.environ["BENCH_ENGINE_OPTIONS"]),
    }
app = create_app(**_overrides)

_prefill = os.environ.get("BENCH_PREFILL_CODES")
if _prefill:
    from webapp.extensions import db
    from webapp.reads import dispose_autocommit_engines
    from webapp.registry import scan

    with app.app_context():
        with open(_prefill) as codes:
            for line in codes:
                if line.strip():
                    scan.scan(line.strip())
        db.session.remove()
        db.engine.dispose()
        dispose_autocommit_engines()
