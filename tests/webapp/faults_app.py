"""The app the fault tests serve with gunicorn: TestingConfig with production's pool settings
and the settings of FAULTS_APP_SETTINGS (JSON) on top (tests/webapp/test_faults_gunicorn.py)."""
from __future__ import annotations

import json
import os

from webapp import create_app
from webapp.config import ProductionConfig, TestingConfig

app = create_app(
    TestingConfig,
    SQLALCHEMY_ENGINE_OPTIONS=dict(ProductionConfig.SQLALCHEMY_ENGINE_OPTIONS),
    **json.loads(os.environ["FAULTS_APP_SETTINGS"]),
)
