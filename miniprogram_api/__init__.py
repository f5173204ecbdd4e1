"""The JSON API of the mini-program contract: thin views over the feature packages of webapp.

Views declare their request schemas as instances (`@blp.arguments(TicketCreateSchema())`):
given a class, webargs builds a new schema, deep-copying its fields, on every request.
"""
from __future__ import annotations

from flask import Flask
from flask_smorest import Api


def register(api: Api, app: Flask) -> None:
    from miniprogram_api import (
        auth,
        bindings,
        patrols,
        privacy,
        riders,
        scan,
        stats,
        subscriptions,
        tickets,
        uploads,
        work,
    )
    from miniprogram_api.security import register_security_scheme

    register_security_scheme(api)
    for module in (scan, auth, uploads, tickets, work, stats, riders, subscriptions, patrols, bindings, privacy):
        api.register_blueprint(module.blp)
