"""Schemas of places as the contract shows them."""
from __future__ import annotations

from marshmallow import Schema, fields


class BuildingSchema(Schema):
    """A building with the names of its community and grid (scan, tickets, patrols)."""

    id = fields.Integer()
    name = fields.String()
    address = fields.String()
    community = fields.String()
    grid = fields.String()
