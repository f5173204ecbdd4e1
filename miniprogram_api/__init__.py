"""The JSON API of the mini-program contract: thin views over webapp.domain."""
from __future__ import annotations

from flask import Flask
from flask_smorest import Api


def register(api: Api, app: Flask) -> None:
    from miniprogram_api import scan

    for module in (scan,):
        api.register_blueprint(module.blp)
