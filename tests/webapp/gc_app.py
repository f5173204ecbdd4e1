"""The app test_gunicorn_conf.py serves with gunicorn: the real app (TestingConfig), and at
/gc what the garbage collector of the worker answering holds."""
from __future__ import annotations

import gc
import json
import os

from webapp import create_app
from webapp.config import TestingConfig

flask_app = create_app(TestingConfig)


def app(environ, start_response):
    if environ.get("PATH_INFO") != "/gc":
        return flask_app(environ, start_response)
    body = json.dumps({
        "frozen": gc.get_freeze_count(),  # objects in the permanent generation
        "tracked": len(gc.get_objects()),  # objects a full collection walks
        "enabled": gc.isenabled(),
        "pid": os.getpid(),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
