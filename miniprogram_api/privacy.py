"""The caller's own personal data: a resident's deletion request (注销并删除个人信息)."""
from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from miniprogram_api.security import current_actor, login_required
from webapp.errors import DomainError
from webapp.extensions import db
from webapp.people.models import Person
from webapp.privacy import deletion
from webapp.tickets import photos

blp = Blueprint("privacy", __name__, url_prefix="/api/v1/me", description="个人信息")


class DeletionSchema(Schema):
    deleted = fields.Boolean(metadata={"description": "个人信息已删除，登录已失效"})
    tickets = fields.Integer(metadata={"description": "删除了联系电话、评价内容等信息的工单数（工单本身保留）"})


@blp.route("")
class Me(MethodView):
    @login_required
    @blp.response(200, DeletionSchema)
    @blp.alt_response(403, description="工作人员账号不能在此注销，请联系管理员")
    def delete(self):
        """Delete my personal data (PIPL): my name, phone, WeChat link, sessions, consents, the
        contact phones and comments of my tickets, my photos not on a ticket. My tickets stay,
        without them, as the service's record and statistics; my token stops working at once.
        An anonymous wish keeps no link to me. Staff accounts: 403 (the console ends them)."""
        actor = current_actor()
        try:
            done = deletion.delete_person(
                db.session.get(Person, actor.person_id), by="self", actor_id=actor.person_id,
                address=request.remote_addr,
            )
        except DomainError:
            db.session.rollback()
            raise
        paths = photos.forget_photos_of(done.person_id)
        db.session.commit()
        photos.remove_files(paths)
        return {"deleted": True, "tickets": done.tickets}
