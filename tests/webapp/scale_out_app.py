"""The app the scale-out test serves with gunicorn and drains the outbox with: TestingConfig
with the settings of SCALE_OUT_SETTINGS (JSON) on top (tests/webapp/test_scale_out.py)."""
from __future__ import annotations

import json
import os

from webapp import create_app
from webapp.config import TestingConfig

app = create_app(TestingConfig, **json.loads(os.environ["SCALE_OUT_SETTINGS"]))
