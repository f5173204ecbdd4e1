"""Signs and codes: print a community's or a street's signs, revoke and reissue a code."""
from __future__ import annotations

import tempfile

from flask import abort, render_template, request, send_file
from sqlalchemy import select

from webapp.console import bp
from webapp.console.signin import staff_required
from webapp.errors import DomainError
from webapp.extensions import db
from webapp.people.actors import Actor
from webapp.registry import signs
from webapp.registry.models import Community, Street


@bp.get("/signs")
@staff_required
def signs_index(actor: Actor):
    streets = db.session.scalars(select(Street).order_by(Street.code)).all()
    communities = db.session.scalars(select(Community).order_by(Community.code)).all()
    allowed = [c for c in communities if actor.supervises_community(c.id, c.street_id)]
    return render_template(
        "console/signs.html", actor=actor, communities=allowed,
        streets=[s for s in streets if actor.supervises_street(s.id)],
    )


@bp.get("/signs.pdf")
@staff_required
def signs_pdf(actor: Actor):
    """The printable sign PDF of one community (or street), written to a temporary file."""
    community_code = request.args.get("community")
    street_code = request.args.get("street")
    if community_code:
        community = db.session.scalars(select(Community).where(Community.code == community_code)).first()
        if community is None or not actor.supervises_community(community.id, community.street_id):
            abort(404)
    elif street_code:
        street = db.session.scalars(select(Street).where(Street.code == street_code)).first()
        if street is None or not actor.supervises_street(street.id):
            abort(404)
    spool = tempfile.TemporaryFile()
    try:
        signs.write_signs(spool, street_code=street_code, community_code=community_code)
    except DomainError as error:
        spool.close()
        return render_template("error.html", status=error.status, message=error.message), error.status
    spool.seek(0)
    name = f"公示牌-{community_code or street_code}.pdf"
    return send_file(spool, mimetype="application/pdf", download_name=name, as_attachment=True)
