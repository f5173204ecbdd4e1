"""Photos: judged by content, re-encoded without metadata, stored once per content hash.

An upload is never stored as sent: it is decoded (only JPEG, PNG, WebP, and HEIC when
pillow_heif is installed), turned upright by its EXIF orientation, and re-encoded from bare
pixels, so no EXIF (GPS!), XMP, ICC or text chunk survives. If that fails, it is refused.
Files are named <sha[:2]>/<sha>.<ext> (photo_key) in the photo store (webapp/photo_store.py):
UPLOAD_DIR on local disk by default, outside any static folder, or an S3-compatible bucket
(PHOTO_STORAGE=s3); they are served only through photo_for_viewer's rule.

Memory is bounded (docs/operations.md, "Photos and request size"): a photo is decoded at no more
than PHOTO_MAX_SIDE on its long side where the format allows it (JPEG's draft mode decodes at
1/2, 1/4 or 1/8 scale directly; PNG and WebP are decoded whole, hence PHOTO_MAX_PIXELS, then
downscaled); a request decodes at most PHOTO_MAX_REQUEST_PIXELS in all (the phone form sends up
to nine photos at once); a process decodes at most PHOTO_DECODES_PER_PROCESS photos at once (an
upload waits up to PHOTO_DECODE_WAIT_SECONDS for a turn, then gets 503 with Retry-After); and
when the last decode of a burst ends, glibc is asked to hand freed memory back (malloc_trim).

WeChat's image check (mediaCheckAsync v2) is asked for at upload (request_media_check), before
the photo belongs to a ticket; its verdict comes later, pushed to WeChat's callback, which hands
it to record_media_check, the one place a verdict acts:

- the verdict is stored on the photo (check_verdict, checked_at) whenever it comes;
- "risky" hides the photo (is_hidden): only staff whose scope covers its ticket see it, in the
  ticket's detail (presenter) and its file (photo_for_viewer); its own uploader no longer does;
- "review" or "risky" holds the photo's ticket for review (needs_review): at once if the photo
  is attached already, else when a ticket claims it (claim_photos);
- "pass" changes nothing but the stored verdict: it never shows a hidden photo again.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import hmac
import io
import logging
import math
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from flask import current_app, has_request_context, request
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError
from sqlalchemy import or_, select, update

from webapp.columns import utcnow
from webapp.errors import DomainError, Invalid, NotFound, TooLarge, UnsupportedMedia, WeChatError
from webapp.extensions import db
from webapp.people.actors import Actor
from webapp.photo_store import StoredPhoto, get_photo_store, key_of
from webapp.tickets.access import can_view_ticket, in_staff_scope
from webapp.tickets.models import Photo, Ticket

log = logging.getLogger(__name__)

MEDIA_CHECK_SCENE = 2  # mediaCheckAsync scene: a comment-like post

MIB = 1024 * 1024
JPEG_QUALITY = 85
MAX_PHOTOS_PER_TICKET = 9  # what wx.chooseMedia lets a person pick at once

# WeChat's verdicts on a photo (mediaCheckAsync v2 result.suggest); the ones that hold the
# photo's ticket for review, and the one that hides the photo.
VERDICTS = ("pass", "review", "risky")
HOLDING_VERDICTS = ("review", "risky")
HIDING_VERDICT = "risky"

try:  # HEIC only with a real decoder; not a dependency of the project.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "HEIF")
except ImportError:
    ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")

CONTENT_TYPES = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png")}
EXTENSIONS = {content_type: ext for content_type, ext in CONTENT_TYPES.values()}

# Modes Pillow resamples well; others (palette, 1-bit, 16/32-bit) take their output mode first.
RESAMPLED_MODES = ("RGB", "RGBA", "L", "LA", "CMYK")
BUSY_RETRY_AFTER_SECONDS = 5
# Decoded pixels since the last trim above which the end of a burst trims (about 32 MB of RGBX).
TRIM_AFTER_PIXELS = 8_000_000
REQUEST_PIXELS_KEY = "gridreport.photo_pixels"  # in request.environ: pixels decoded so far


class UploadsBusy(DomainError):
    """Every decode slot of this process stayed taken for PHOTO_DECODE_WAIT_SECONDS."""

    status = 503
    code = "uploads_busy"
    message = "当前上传照片的人较多，请稍后重试"


# --- bounded memory ---------------------------------------------------------------------------


def _load_malloc_trim():
    """glibc's malloc_trim, or None (musl, macOS: their allocators need no such call)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_malloc_trim = _load_malloc_trim()


def release_memory() -> bool:
    """Hand the heap's free pages back to the system (glibc keeps them in its arenas: one per
    thread that decoded, so a burst on four threads kept ~1.5 GB per worker). True if trimmed."""
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True


class DecodeGate:
    """At most `limit` photos decoded at once in this process (a counting semaphore whose size
    is read from the settings at each entry); when the last one leaves after a burst, the
    freed memory goes back to the system (release_memory)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.active = 0
        self._since_trim = 0  # pixels decoded since the last trim

    @contextmanager
    def slot(self, limit: int, wait_seconds: float, trim: bool) -> Iterator[None]:
        with self._changed:
            if limit > 0:
                deadline = time.monotonic() + wait_seconds
                while self.active >= limit:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        log.warning("photo decode refused: %d of %d slots busy", self.active, limit)
                        raise UploadsBusy(headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)})
                    self._changed.wait(remaining)
            self.active += 1
        try:
            yield
        finally:
            with self._changed:
                self.active -= 1
                idle = self.active == 0
                self._changed.notify()
                should_trim = trim and idle and self._since_trim >= TRIM_AFTER_PIXELS
                if should_trim:
                    self._since_trim = 0
            if should_trim:
                release_memory()

    def decoded(self, pixels: int) -> None:
        with self._changed:
            self._since_trim += pixels


GATE = DecodeGate()


def _spend_request_pixels(pixels: int) -> None:
    """Count a photo's decoded pixels against the request's PHOTO_MAX_REQUEST_PIXELS (0: none)."""
    cap = int(current_app.config.get("PHOTO_MAX_REQUEST_PIXELS") or 0)
    if cap <= 0 or not has_request_context():
        return
    total = request.environ.get(REQUEST_PIXELS_KEY, 0) + pixels
    if total > cap:
        raise TooLarge(
            f"本次上传的照片总像素过大（超过 {cap // 1_000_000} 百万像素），请减少照片数量或缩小后再上传",
            code="request_too_many_pixels",
        )
    request.environ[REQUEST_PIXELS_KEY] = total


def _fitted(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """`size` scaled down to fit max_side on its long side (unchanged if it fits, or max_side 0)."""
    width, height = size
    if max_side <= 0 or max(width, height) <= max_side:
        return size
    scale = max_side / max(width, height)
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


def _draft(image: Image.Image, max_side: int) -> None:
    """JPEG: have the decoder itself scale by 1/2, 1/4 or 1/8, never below the fitted size."""
    target = _fitted(image.size, max_side)
    if image.format == "JPEG" and target != image.size:
        image.draft(image.mode, target)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Identify the image from its bytes and check its size from the header, before decoding."""
    too_many = TooLarge(
        f"图片像素过大（超过 {max_pixels // 1_000_000} 百万像素），请缩小后再上传",
        code="image_too_many_pixels",
    )
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError:
        raise too_many from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise UnsupportedMedia(
            "只能上传 JPEG、PNG 或 WebP 格式的照片", code="unsupported_image"
        ) from None
    width, height = image.size
    if width < 1 or height < 1:
        raise Invalid("图片已损坏，请重新拍摄", code="image_corrupt")
    if width * height > max_pixels:
        raise too_many
    return image


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert pixels described by an embedded ICC profile to sRGB, as the profile is dropped."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        mode = "RGBA" if image.mode == "RGBA" else "RGB"
        return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # an odd profile: keep the pixels as they are


def _output_of(source_format: str | None, mode: str, has_alpha: bool) -> tuple[str, str]:
    """(output format, pixel mode) of the stored photo."""
    if source_format == "PNG" or has_alpha:
        return "PNG", "RGBA" if has_alpha else ("L" if mode in ("1", "L") else "RGB")
    return "JPEG", "L" if mode in ("1", "L") else "RGB"


def _decode_clean(image: Image.Image, max_side: int = 0) -> tuple[Image.Image, str]:
    """Decode (JPEG at reduced size), turn upright, fit into max_side (0: keep the size) and
    rebuild from bare pixels; returns (image, output format)."""
    source_format = image.format
    _draft(image, max_side)
    pixels = image.width * image.height  # what decoding allocates, known before it happens
    _spend_request_pixels(pixels)
    GATE.decoded(pixels)
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        raise Invalid("图片已损坏或不完整，请重新拍摄后上传", code="image_corrupt") from None
    try:
        ImageOps.exif_transpose(image, in_place=True)  # no copy of the whole image
    except Exception:  # noqa: BLE001 - a malformed EXIF block only costs us the rotation
        log.info("ignoring unreadable EXIF orientation")
    try:
        has_alpha = image.has_transparency_data
        output, mode = _output_of(source_format, image.mode, has_alpha)
        target = _fitted(image.size, max_side)
        if target != image.size:
            if image.mode not in RESAMPLED_MODES:
                image = image.convert(mode)  # no ICC conversion applies to these modes
            # In place, reducing by an integer factor first: no second full-size copy.
            image.thumbnail(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
        image = _to_srgb(image)
        if image.mode != mode:
            image = image.convert(mode)
        # A new image from the raw pixels carries no info dict: no EXIF, XMP, ICC or text.
        clean = Image.frombytes(mode, image.size, image.tobytes())
    except (OSError, ValueError) as error:
        log.info("could not rebuild an upload: %s", error)
        raise Invalid("无法处理这张图片，请换一张再试", code="image_corrupt") from None
    finally:
        image.close()
    return clean, output


def _encode(image: Image.Image, output: str) -> bytes:
    buffer = io.BytesIO()
    try:
        if output == "JPEG":
            image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
        else:
            image.save(buffer, "PNG")
    except (OSError, ValueError) as error:
        log.info("could not re-encode an upload: %s", error)
        raise Invalid("无法处理这张图片，请换一张再试", code="image_corrupt") from None
    return buffer.getvalue()


def _clean_payload(data: bytes, max_pixels: int) -> tuple[bytes, str, tuple[int, int]]:
    """The stored bytes of an upload, its format and size. Decoding waits for a slot of the
    process's DecodeGate; every image is closed and dropped before the slot is given back, so
    that a trim at the end of a burst finds their memory free."""
    config = current_app.config
    image = _open(data, max_pixels)  # the header only: cheap, outside the gate
    try:
        with GATE.slot(
            int(config.get("PHOTO_DECODES_PER_PROCESS") or 0),
            float(config.get("PHOTO_DECODE_WAIT_SECONDS") or 0),
            bool(config.get("PHOTO_MALLOC_TRIM", True)),
        ):
            clean, output = _decode_clean(image, int(config.get("PHOTO_MAX_SIDE") or 0))
            try:
                return _encode(clean, output), output, clean.size
            finally:
                clean.close()
    finally:
        image.close()


def photo_key(sha256: str, content_type: str) -> str:
    """The photo's name in the store: <sha[:2]>/<sha>.<ext> (a key in S3, a path under UPLOAD_DIR)."""
    return f"{sha256[:2]}/{sha256}.{EXTENSIONS[content_type]}"


def photo_file_path(sha256: str, content_type: str) -> Path:
    """Where the local store keeps the photo (UPLOAD_DIR/<key>); with PHOTO_STORAGE=s3 the path
    only names the object of the same key (remove_files reads the key from it)."""
    return Path(current_app.config["UPLOAD_DIR"]) / photo_key(sha256, content_type)


def stored_photo(photo: Photo) -> StoredPhoto:
    """The photo's file as the doors send it (photo_store.send_photo)."""
    return StoredPhoto(photo_key(photo.sha256, photo.content_type), photo.content_type, photo.sha256)


def store_upload(actor: Actor, stream: BinaryIO, declared_name: str | None = None) -> Photo:
    """Check, clean and store one uploaded photo for the actor; returns the new Photo.

    declared_name (the client's file name) is only logged: the bytes decide what it is. The
    stored photo fits PHOTO_MAX_SIDE on its long side. Raises TooLarge (413) above
    PHOTO_MAX_BYTES or PHOTO_MAX_PIXELS, or when the request's photos together pass
    PHOTO_MAX_REQUEST_PIXELS decoded; UnsupportedMedia (415) for anything that is not an
    accepted image; Invalid (422) for a broken one; UploadsBusy (503, Retry-After) when the
    process's decode slots stay taken; PhotoStorageUnavailable (503, Retry-After) when the
    photo store (the S3 bucket) cannot be reached.
    """
    config = current_app.config
    max_bytes = int(config["PHOTO_MAX_BYTES"])
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TooLarge(f"单张照片不能超过 {max_bytes // MIB} MB", code="photo_too_large")
    if not data:
        raise Invalid("请选择要上传的照片", code="photo_missing", errors={"file": ["文件为空"]})
    payload, output, (width, height) = _clean_payload(data, int(config["PHOTO_MAX_PIXELS"]))
    del data
    sha256 = hashlib.sha256(payload).hexdigest()
    content_type = CONTENT_TYPES[output][0]
    # Written before the row: a failing store (503) leaves no row without its file.
    get_photo_store().put(photo_key(sha256, content_type), payload, content_type)
    byte_size = len(payload)
    del payload
    photo = Photo(
        sha256=sha256,
        content_type=content_type,
        width=width,
        height=height,
        byte_size=byte_size,
        uploader_id=actor.person_id,
    )
    db.session.add(photo)
    db.session.flush()
    log.info("stored photo %s (%s, declared %r)", photo.id, content_type, declared_name)
    return photo


def photo_for_viewer(actor: Actor, photo_id: str) -> tuple[Photo, StoredPhoto]:
    """The photo and its file (for photo_store.send_photo), if the actor may see it: its
    uploader (until it is attached to an anonymous wish) or anyone who may see its ticket; a
    hidden photo (flagged by WeChat) only staff whose scope covers its ticket.

    Raises NotFound otherwise: nobody learns that someone else's photo exists.
    """
    photo = db.session.get(Photo, photo_id)
    if photo is None:
        raise NotFound("未找到该照片", code="photo_not_found")
    ticket = db.session.get(Ticket, photo.ticket_id) if photo.ticket_id else None
    if photo.is_hidden:
        allowed = ticket is not None and in_staff_scope(actor, ticket)
    else:
        allowed = photo.uploader_id == actor.person_id or (
            ticket is not None and can_view_ticket(actor, ticket)
        )
    if not allowed:
        raise NotFound("未找到该照片", code="photo_not_found")
    # A missing file is found when it is sent (send_photo: NotFound), not with a round trip here.
    return photo, stored_photo(photo)


def claim_photos(
    actor: Actor, photo_ids: list[str], ticket_id: str, *, forget_uploader: bool = False
) -> list[str]:
    """Attach the actor's own unattached photos to a ticket; returns the ids in order.

    For ticket submission and for ticket actions with photos. Claiming again for the same
    ticket is harmless (unless the first claim forgot the uploader). forget_uploader (an
    anonymous wish) clears uploader_id so the photo does not say who sent it. A photo WeChat
    already judged "review" or "risky" holds the ticket for review (needs_review). Raises
    Invalid (422, on photo_ids) if there are too many or any is unknown, someone else's, or
    already used by another ticket; the caller's transaction must then not be committed.
    """
    ids = list(dict.fromkeys(photo_ids))
    if len(ids) > MAX_PHOTOS_PER_TICKET:
        message = f"最多上传 {MAX_PHOTOS_PER_TICKET} 张照片"
        raise Invalid(message, code="too_many_photos", errors={"photo_ids": [message]})
    if not ids:
        return []
    values: dict = {"ticket_id": ticket_id}
    if forget_uploader:
        values["uploader_id"] = None
    # One statement claims the photos and reads back their verdicts (RETURNING).
    claimed = db.session.execute(
        update(Photo)
        .where(
            Photo.id.in_(ids),
            Photo.uploader_id == actor.person_id,
            or_(Photo.ticket_id.is_(None), Photo.ticket_id == ticket_id),
        )
        .values(**values)
        .returning(Photo.id, Photo.check_verdict)
        .execution_options(synchronize_session="fetch")
    ).all()
    if len(claimed) != len(ids):
        message = "照片不存在或已被使用，请重新上传"
        raise Invalid(message, code="photo_unavailable", errors={"photo_ids": [message]})
    flagged = [photo_id for photo_id, verdict in claimed if verdict in HOLDING_VERDICTS]
    if flagged:
        _hold_for_review([ticket_id])
        log.warning("ticket %s claimed photos flagged by WeChat: %s", ticket_id, flagged)
    return ids


def forget_photos_of(person_id: str) -> list[Path]:
    """The person withdrew the images they chose (WeChat's RevokeInfo 14): their photos not
    attached to any ticket are deleted; those attached stay as the ticket's evidence (a public
    service's record) but no longer name their uploader. Returns the files no photo uses any
    more, for the caller to delete after its commit (remove_files): a rollback keeps them.
    """
    loose = list(
        db.session.execute(
            select(Photo.id, Photo.sha256, Photo.content_type).where(
                Photo.uploader_id == person_id, Photo.ticket_id.is_(None)
            )
        )
    )
    db.session.execute(
        update(Photo)
        .where(Photo.uploader_id == person_id, Photo.ticket_id.is_not(None))
        .values(uploader_id=None)
        .execution_options(synchronize_session="fetch")
    )
    if not loose:
        return []
    db.session.execute(
        Photo.__table__.delete().where(Photo.id.in_([row.id for row in loose]))
    )
    still_used = set(
        db.session.scalars(select(Photo.sha256).where(Photo.sha256.in_({row.sha256 for row in loose})))
    )
    db.session.flush()
    return sorted(
        {photo_file_path(row.sha256, row.content_type) for row in loose if row.sha256 not in still_used}
    )


def forget_ticket_photos(ticket_ids: list[str]) -> list[Path]:
    """Retention (webapp.privacy.retention, `flask privacy purge`): delete the photos of these
    tickets and of their events. Returns the files no photo uses any more, for the caller to
    delete after its commit (remove_files), as forget_photos_of does."""
    if not ticket_ids:
        return []
    gone = list(db.session.execute(
        select(Photo.id, Photo.sha256, Photo.content_type).where(Photo.ticket_id.in_(ticket_ids))
    ))
    if not gone:
        return []
    db.session.execute(Photo.__table__.delete().where(Photo.id.in_([row.id for row in gone])))
    still_used = set(
        db.session.scalars(select(Photo.sha256).where(Photo.sha256.in_({row.sha256 for row in gone})))
    )
    db.session.flush()
    return sorted(
        {photo_file_path(row.sha256, row.content_type) for row in gone if row.sha256 not in still_used}
    )


def remove_files(paths: list[Path]) -> None:
    """Delete the files forget_photos_of returned, from whichever store holds them (each path's
    last two parts are its key). Called after the commit: if the bucket cannot be reached the
    objects stay, logged at error level with their keys for an operator to delete."""
    keys = [key_of(path) for path in paths]
    if not keys:
        return
    try:
        get_photo_store().delete(keys)
    except DomainError:
        log.error("photo files left to delete by hand (storage unavailable): %s", keys)


# --- WeChat's verdicts -----------------------------------------------------------------------


def record_media_check(trace_id: str, verdict: str, *, now=None) -> list[str]:
    """Apply WeChat's verdict on the photos checked under `trace_id`; returns their ids.

    Stores the verdict and its time on each photo (the rule is in the module docstring): risky
    hides it, review or risky holds its ticket for review if it has one (a ticket that claims
    it later is held then, by claim_photos), pass changes nothing else. A verdict that is not
    one of VERDICTS counts as "review". Flushes; the caller commits.
    """
    if not trace_id:
        return []
    if verdict not in VERDICTS:
        verdict = "review"
    photos = list(db.session.scalars(select(Photo).where(Photo.check_trace_id == trace_id)))
    if not photos:
        log.info("media check %s: no photo with that trace id", trace_id)
        return []
    checked_at = now or utcnow()
    for photo in photos:
        photo.check_verdict = verdict
        photo.checked_at = checked_at
        if verdict == HIDING_VERDICT:
            photo.is_hidden = True
    db.session.flush()
    if verdict in HOLDING_VERDICTS:
        _hold_for_review({photo.ticket_id for photo in photos if photo.ticket_id})
        log.warning("media check %s: %s, photos %s", trace_id, verdict, [p.id for p in photos])
    return [photo.id for photo in photos]


def _hold_for_review(ticket_ids) -> None:
    """Hold tickets for review (needs_review) with a plain UPDATE that leaves their version as
    it is, so that a worker acting on the ticket at the same moment gets no version conflict;
    a ticket already in the session sees the flag at once. Its status is not touched."""
    ticket_ids = sorted(set(ticket_ids))
    if not ticket_ids:
        return
    db.session.execute(
        update(Ticket)
        .where(Ticket.id.in_(ticket_ids), Ticket.needs_review.is_(False))
        .values(needs_review=True)
        .execution_options(synchronize_session="evaluate")
    )


def hidden_photo_ids(photo_ids) -> set[str]:
    """Which of these photos are hidden (WeChat found them risky): a ticket's detail leaves them
    out for anyone but staff whose scope covers the ticket (presenter.TicketPresenter.detail)."""
    ids = sorted(set(photo_ids))
    if not ids:
        return set()
    return set(db.session.scalars(select(Photo.id).where(Photo.id.in_(ids), Photo.is_hidden.is_(True))))


# --- WeChat's asynchronous image check ------------------------------------------------------


def media_check_token(photo_id: str) -> str:
    """The capability that lets WeChat's checker fetch one photo without a login (a key of its
    own, webapp.keys; WeChat fetches within minutes of the upload, so no older key is kept)."""
    from webapp.keys import derived_key

    return hmac.new(derived_key("media-check"), f"media-check:{photo_id}".encode(), hashlib.sha256).hexdigest()[:32]


def photo_for_media_check(photo_id: str, token: str) -> tuple[Photo, StoredPhoto]:
    """The photo WeChat was asked to check (for photo_store.send_photo), if the token is
    right; NotFound otherwise."""
    photo = db.session.get(Photo, photo_id)
    if photo is None or not hmac.compare_digest(token, media_check_token(photo_id)):
        raise NotFound("未找到该照片", code="photo_not_found")
    return photo, stored_photo(photo)


def request_media_check(actor: Actor, photo: Photo) -> str | None:
    """Ask WeChat (mediaCheckAsync v2) to check a new photo; the verdict comes to the callback.

    Only when WeChat is configured and the uploader has an openid (WeChat checks on behalf of a
    user). If WeChat cannot be reached the photo stays, unchecked, and a warning is logged: a
    resident's report is never lost to a failed check.
    """
    from webapp.people.models import Person
    from webapp.wechat import get_wechat

    wechat = get_wechat()
    person = db.session.get(Person, actor.person_id)
    if not wechat.is_configured or person is None or not person.openid:
        return None
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    url = f"{base}/wechat/media/{photo.id}/{media_check_token(photo.id)}"
    try:
        trace_id = wechat.media_check_async(person.openid, url, scene=MEDIA_CHECK_SCENE)
    except WeChatError:
        log.warning("media check of photo %s not requested: WeChat unavailable", photo.id)
        return None
    photo.check_trace_id = trace_id
    db.session.flush()
    return trace_id
