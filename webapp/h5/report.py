"""The report form of the phone web page: GET /b/<code> shows it, POST /b/<code>/report files it.

A plain HTML multipart form that works without JavaScript. The page carries an idempotency
key made when it is rendered and a signed form token bound to the code and that key (against
cross-site posts and stale pages). A post stores its photos and submits the ticket in one
transaction: any domain error rolls it all back and shows the form again with the person's
input and the messages next to the fields; success redirects (303) to the private follow link.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace

from flask import current_app, redirect, render_template, request
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.exceptions import RequestEntityTooLarge

from webapp import limits
from webapp.errors import DomainError
from webapp.extensions import db
from webapp.h5 import bp, error_page, wechat_files
from webapp.h5.follow import follow_path
from webapp.h5.guest import guest_for_submission, set_cookie
from webapp.keys import verification_keys
from webapp.limits import scan_per_address, scan_per_code, submit_per_address
from webapp.people.actors import Actor
from webapp.registry import scan
from webapp.tickets import photos, submission
from webapp.tickets.models import Ticket

FORM_SALT = "h5-report-form"
FORM_MAX_AGE_SECONDS = 24 * 3600
KINDS = ("report", "wish")
PHONE = re.compile(r"^1\d{10}$")
KEY = re.compile(r"^[0-9a-f-]{36}$")
FORM_ERROR = "_form"  # messages about the whole form, shown above it
# Where a domain error's field is shown on the form.
FIELD_OF = {"photo_ids": "photos", "file": "photos", "Idempotency-Key": FORM_ERROR}


def _serializer() -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and accepts every one (open forms survive a rotation).
    return URLSafeTimedSerializer(list(reversed(verification_keys("h5-form"))), salt=FORM_SALT)


def form_token(code: str, idempotency_key: str) -> str:
    """A signed token binding a rendered form to its code and idempotency key."""
    return _serializer().dumps([code, idempotency_key])


def form_token_ok(token: str, code: str, idempotency_key: str) -> bool:
    try:
        value = _serializer().loads(token, max_age=FORM_MAX_AGE_SECONDS)
    except BadData:
        return False
    return value == [code, idempotency_key]


@dataclass
class ReportForm:
    """What the person typed, kept as typed so that the form can be shown again."""

    idempotency_key: str = field(default_factory=lambda: str(uuid.uuid4()))
    kind: str = "report"
    category: str = ""
    unit: str = ""
    description: str = ""
    contact_phone: str = ""
    anonymous: bool = False

    @classmethod
    def from_request(cls) -> ReportForm:
        form = request.form
        kind = form.get("kind", "report")
        kind = kind if kind in KINDS else "report"
        return cls(
            idempotency_key=form.get("idempotency_key", "").strip(),
            kind=kind,
            category=form.get(f"category_{kind}", "").strip(),
            unit=form.get("unit", "").strip(),
            description=form.get("description", "").replace("\r\n", "\n"),
            contact_phone=re.sub(r"[\s-]", "", form.get("contact_phone", "")),
            anonymous=kind == "wish" and form.get("anonymous") in ("1", "on", "true"),
        )

    def check(self, photo_count: int) -> dict[str, list[str]]:
        """The checks the page can make alone, all at once; the domain makes the rest."""
        errors: dict[str, list[str]] = {}
        if not self.category:
            errors["category"] = ["请选择问题类别" if self.kind == "report" else "请选择心愿类别"]
        length = len(self.description.strip())
        low, high = submission.DESCRIPTION_MIN, submission.DESCRIPTION_MAX
        if not low <= length <= high:
            errors["description"] = [f"问题描述需要{low}到{high}个字，现在是{length}个字"]
        if self.contact_phone and not PHONE.match(self.contact_phone):
            errors["contact_phone"] = ["请填写11位手机号码，或留空"]
        if photo_count > submission.MAX_PHOTOS:
            errors["photos"] = [f"最多上传{submission.MAX_PHOTOS}张照片，您选择了{photo_count}张"]
        return errors

    def submission(self, code: str, photo_ids: list[str]) -> submission.Submission:
        return submission.Submission(
            code=code,
            kind=self.kind,
            category=self.category,
            description=self.description.strip(),
            unit=self.unit or None,
            photo_ids=photo_ids,
            anonymous=self.anonymous,
            contact_phone=self.contact_phone or None,
        )

    def same_as(self, ticket: Ticket) -> bool:
        """Whether a ticket already filed under this form's key is this very submission."""
        return (
            ticket.kind.value == self.kind
            and ticket.category.code == self.category
            and ticket.description == self.description.strip()
            and (ticket.unit.name if ticket.unit else "") == self.unit
        )


def render_form(code: str, form: ReportForm, errors: dict | None = None, status: int = 200):
    """The building page with the report form; 404/410 pages for an unknown or revoked code."""
    try:
        view = scan.scan(code)
    except DomainError as error:
        return error_page(error)
    body = render_template(
        "h5/building.html",
        view=view,
        code=code,
        form=form,
        errors=errors or {},
        form_token=form_token(code, form.idempotency_key),
        max_photos=submission.MAX_PHOTOS,
        description_min=submission.DESCRIPTION_MIN,
        description_max=submission.DESCRIPTION_MAX,
        photo_max_mb=int(current_app.config["PHOTO_MAX_BYTES"]) // photos.MIB,
    )
    # A fresh key per rendering: never serve this page from a cache, nor from history.
    return body, status, {"Cache-Control": "no-store"}


@bp.get("/b/<string:code>")
@scan_per_address
@scan_per_code
def building_page(code: str):
    """The building, a report form, its contacts and its open reports, for a phone screen.

    An unknown code renders 404 and a revoked one 410, as pages rather than JSON. WeChat's
    verification file of the plain-link rule, `/b/<name>.txt`, comes first (wechat_files).
    """
    if code.endswith(wechat_files.SUFFIX):
        path = wechat_files.verification_file(code[: -len(wechat_files.SUFFIX)])
        if path is not None:
            return wechat_files.send_verification_file(path)
    return render_form(code, ReportForm())


def _body_limit() -> int:
    """All photos of a form come in one request: allow MAX_PHOTOS full-size photos."""
    config = current_app.config
    per_form = submission.MAX_PHOTOS * int(config["PHOTO_MAX_BYTES"]) + photos.MIB
    return max(int(config.get("MAX_CONTENT_LENGTH") or 0), per_form)


def _store_photos(actor: Actor, files) -> list[str]:
    ids = []
    for number, upload in enumerate(files, start=1):
        try:
            photo = photos.store_upload(actor, upload.stream, upload.filename)
        except DomainError as error:
            message = f"第{number}张照片：{error.message}"
            extra = {"headers": error.headers} if error.headers else {}  # 503's Retry-After
            raise type(error)(message, code=error.code, errors={"photos": [message]}, **extra) from None
        ids.append(photo.id)
    return ids


def _field_errors(error: DomainError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name, messages in (error.errors or {}).items():
        target = FIELD_OF.get(name, name)
        if isinstance(messages, str):
            messages = [messages]
        errors.setdefault(target, []).extend(str(m) for m in messages)
    shown = [m for messages in errors.values() for m in messages]
    if FORM_ERROR not in errors and error.message not in shown:
        errors[FORM_ERROR] = [error.message]
    return errors


submit_per_code = limits.route_limit("RATE_LIMIT_SUBMIT_PER_CODE", scope="submit-code", key_func=limits.code_key)


@bp.post("/b/<string:code>/report")
@submit_per_address
@submit_per_code
def submit_report(code: str):
    request.max_content_length = _body_limit()
    try:
        form = ReportForm.from_request()
        files = [f for f in request.files.getlist("photos") if f and f.filename]
    except RequestEntityTooLarge:
        limit_mb = _body_limit() // photos.MIB
        message = f"照片总大小超过{limit_mb} MB，请减少照片数量后重新填写提交"
        return render_form(code, ReportForm(), {FORM_ERROR: [message]}, 413)

    if not KEY.match(form.idempotency_key) or not form_token_ok(
        request.form.get("form_token", ""), code, form.idempotency_key
    ):
        # A cross-site post or a page left open too long: nothing is filed. The form comes
        # back with a fresh key and token, the person's text kept.
        form = replace(form, idempotency_key=str(uuid.uuid4()))
        message = "页面已过期或来源无法确认，内容已保留，请核对后重新提交"
        if files:
            message += "（照片需重新选择）"
        return render_form(code, form, {FORM_ERROR: [message]}, 400)

    errors = form.check(len(files))
    if errors:
        return render_form(code, form, _photo_hint(errors, files), 422)

    for _attempt in range(2):
        try:
            guest = guest_for_submission(form.idempotency_key)
            # Looked up before the photos are stored: a repeat would store new photo rows,
            # so its body would never match the first one's.
            ticket = submission.ticket_for_key(guest.actor, form.idempotency_key)
            if ticket is not None and not form.same_as(ticket):
                # The page was used again (e.g. after going back) for another text.
                message = (
                    f"这份表单已经提交过（工单号 {ticket.number}）。"
                    "如需反映新的问题，请核对内容后再次提交"
                )
                db.session.rollback()
                fresh = replace(form, idempotency_key=str(uuid.uuid4()))
                return render_form(code, fresh, _photo_hint({FORM_ERROR: [message]}, files), 422)
            new_ticket = ticket is None
            if new_ticket:
                limits.check_daily_caps(guest.actor.person_id, code, form.kind)
                photo_ids = _store_photos(guest.actor, files)
                ticket = submission.submit_ticket(
                    guest.actor, form.submission(code, photo_ids), form.idempotency_key
                ).ticket
            db.session.commit()
            if new_ticket:
                limits.count_daily_caps(guest.actor.person_id, code, form.kind)
        except DomainError as error:
            db.session.rollback()
            if error.code == "idempotency_key_reused":
                # The same form posted twice at once: the twin's ticket is committed now.
                continue
            if error.status in (404, 410):
                return error_page(error)
            page = render_form(code, form, _photo_hint(_field_errors(error), files), error.status)
            if error.headers and len(page) == 3:  # 429: Retry-After
                page = (page[0], page[1], {**page[2], **error.headers})
            return page
        response = redirect(follow_path(ticket.id, new=1), code=303)
        if guest.new_cookie:
            set_cookie(response, guest.new_cookie)
        return response
    message = "提交未能完成，请稍后重试"
    return render_form(code, form, _photo_hint({FORM_ERROR: [message]}, files), 409)


def _photo_hint(errors: dict, files) -> dict:
    """A browser never keeps chosen files across a page load: say so when there were some."""
    if files:
        errors.setdefault("photos", [])
        errors["photos"].append("本次提交未成功，照片需要重新选择")
    return errors
