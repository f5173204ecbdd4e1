"""The front door of the web app: where to look, and (in the demo) every building's page and QR."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template
from sqlalchemy import select

from qr.render import qr_png
from qr.urls import building_url
from webapp.errors import DomainError
from webapp.extensions import db
from webapp.registry.models import Building, BuildingCode, Community, Grid
from webapp.registry.scan import resolve_code

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    """Links to the console and the API; the demo also lists its buildings (never in production,
    where listing codes would defeat their being unguessable)."""
    buildings = []
    if current_app.config["DEV_LOGIN"]:
        buildings = db.session.execute(
            select(Building.name, Community.name, Grid.name, BuildingCode.code)
            .join(BuildingCode, (BuildingCode.building_id == Building.id) & BuildingCode.revoked_at.is_(None))
            .join(Grid, Grid.id == Building.grid_id)
            .join(Community, Community.id == Grid.community_id)
            .order_by(Building.code)
            .limit(200)
        ).all()
    return render_template("home.html", buildings=buildings)


@bp.get("/b/<string:code>/qr.png")
def building_qr(code: str):
    """The QR image of a building's active code, as printed on its sign."""
    try:
        resolve_code(code)
    except DomainError as error:
        return render_template("error.html", status=error.status, message=error.message), error.status
    png = qr_png(building_url(current_app.config["PUBLIC_BASE_URL"], code))
    return Response(png, mimetype="image/png", headers={"Cache-Control": "public, max-age=300"})
