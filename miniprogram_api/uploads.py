"""Photos: upload one (multipart), fetch one back if allowed to see it."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from miniprogram_api.security import current_actor, login_required, person_key
from webapp.limits import route_limit
from webapp.extensions import db
from webapp.photo_store import send_photo
from webapp.tickets import photos

blp = Blueprint("uploads", __name__, url_prefix="/api/v1", description="照片")


class UploadFormSchema(Schema):
    file = fields.Raw(
        required=True, metadata={"type": "string", "format": "binary"}
    )


class PhotoSchema(Schema):
    id = fields.String()
    sha256 = fields.String()
    width = fields.Integer()
    height = fields.Integer()
    content_type = fields.String()


@blp.route("/uploads")
class Uploads(MethodView):
    @route_limit("RATE_LIMIT_UPLOAD_PER_PERSON", scope="upload-person", key_func=person_key)
    @login_required
    @blp.arguments(UploadFormSchema(), location="files")
    @blp.response(201, PhotoSchema)
    @blp.alt_response(413, description="文件过大")
    @blp.alt_response(415, description="不是支持的图片格式")
    @blp.alt_response(429, description="上传过于频繁，按 Retry-After 秒后再试")
    @blp.alt_response(422, description="图片损坏")
    @blp.alt_response(503, description="本进程同时处理的照片已满，按 Retry-After 秒后再试")
    def post(self, form):
        """Upload one photo (field "file"): JPEG, PNG or WebP, checked by its content and
        re-encoded without any metadata (no location)."""
        upload = form["file"]
        actor = current_actor()
        photo = photos.store_upload(actor, upload.stream, upload.filename)
        photos.request_media_check(actor, photo)
        db.session.commit()
        return photo


@blp.route("/photos/<string:photo_id>")
class PhotoFile(MethodView):
    @login_required
    @blp.response(200, content_type="image/jpeg", description="图片（JPEG 或 PNG）")
    @blp.alt_response(404, description="不存在或无权查看")
    @blp.alt_response(503, description="照片存储暂时不可用，按 Retry-After 秒后再试")
    def get(self, photo_id: str):
        """The image, to its uploader and to whoever may see its ticket."""
        _, stored = photos.photo_for_viewer(current_actor(), photo_id)
        response = send_photo(stored, max_age=3600)
        response.headers["Cache-Control"] = "private, max-age=3600"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
