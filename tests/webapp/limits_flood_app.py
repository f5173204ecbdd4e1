"""The app the flood test serves with gunicorn: TestingConfig with the settings of
LIMITS_FLOOD_SETTINGS (JSON) on top (tests/webapp/test_limits_flood.py)."""
from __future__ import annotations

import json
import os

from webapp import create_app
from webapp.config import TestingConfig

app = create_app(TestingConfig, **json.loads(os.environ["LIMITS_FLOOD_SETTINGS"]))
