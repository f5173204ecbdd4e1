"""Photo uploads: judged by content, stored without metadata, shown only to who may see them."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from tests.factories import make_person, make_registry, session_headers
from webapp.extensions import db
from webapp.people.actors import load_actor
from webapp.registry.models import TicketKind
from webapp.tickets.models import Photo, Ticket, TicketStatus
from webapp.tickets.photos import claim_photos, photo_file_path

GPS_IFD = 0x8825


def _jpeg_with_gps(size=(120, 80), orientation=None) -> bytes:
    exif = Image.Exif()
    # Pillow 13 wants rationals as numbers, not (num, den) pairs.
    exif[GPS_IFD] = {1: "N", 2: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)}
    exif[0x010F] = "PhoneMaker"  # Make
    if orientation:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def _png(size=(40, 30), mode="RGBA") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (0, 200, 0, 128) if mode == "RGBA" else (0, 200, 0)).save(
        buffer, "PNG", pnginfo=_text_chunk()
    )
    return buffer.getvalue()


def _text_chunk():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "secret location")
    return info


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares width × height; the pixel data is a token few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _upload(client, headers, data: bytes, name="photo.jpg", content_type="image/jpeg"):
    return client.post(
        "/api/v1/uploads",
        data={"file": (io.BytesIO(data), name, content_type)},
        headers=headers,
        content_type="multipart/form-data",
    )


@pytest.fixture
def resident(app_ctx):
    return make_person("居民甲", openid="o-resident-a")


@pytest.fixture
def headers(resident):
    return session_headers(resident)


def _assert_error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"code", "message", "errors"} and body["message"]
    return body


def test_upload_strips_gps_and_every_other_metadata(client, headers, resident):
    original = _jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)  # the fixture has GPS
    response = _upload(client, headers, original)
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"id", "sha256", "width", "height", "content_type"}
    assert (body["width"], body["height"], body["content_type"]) == (120, 80, "image/jpeg")
    photo = db.session.get(Photo, body["id"])
    assert photo.uploader_id == resident.id and photo.ticket_id is None
    stored_path = photo_file_path(photo.sha256, photo.content_type)
    assert stored_path.name == f"{body['sha256']}.jpg"
    assert stored_path.parent.name == body["sha256"][:2]
    stored_bytes = stored_path.read_bytes()
    assert b"Exif" not in stored_bytes and b"PhoneMaker" not in stored_bytes
    stored = Image.open(stored_path)
    assert stored.format == "JPEG"
    assert len(stored.getexif()) == 0 and not stored.getexif().get_ifd(GPS_IFD)
    assert "exif" not in stored.info and "icc_profile" not in stored.info


def test_exif_orientation_is_applied_before_the_metadata_goes(client, headers):
    body = _upload(client, headers, _jpeg_with_gps(size=(120, 80), orientation=6)).get_json()
    assert (body["width"], body["height"]) == (80, 120)  # rotated upright


def test_png_with_alpha_stays_png_without_text_chunks(client, headers):
    body = _upload(client, headers, _png(), name="shot.png", content_type="image/png").get_json()
    assert body["content_type"] == "image/png"
    photo = db.session.get(Photo, body["id"])
    stored = Image.open(photo_file_path(photo.sha256, photo.content_type))
    assert stored.mode == "RGBA" and "Comment" not in stored.info
    assert b"secret location" not in photo_file_path(photo.sha256, photo.content_type).read_bytes()


def test_webp_is_accepted_and_stored_as_jpeg(client, headers):
    buffer = io.BytesIO()
    Image.new("RGB", (50, 50), (255, 0, 0)).save(buffer, "WEBP")
    body = _upload(client, headers, buffer.getvalue(), name="a.webp", content_type="image/webp")
    assert body.status_code == 201 and body.get_json()["content_type"] == "image/jpeg"


def test_same_picture_twice_is_one_file_two_photos(client, headers, app):
    data = _jpeg_with_gps()
    first = _upload(client, headers, data).get_json()
    second = _upload(client, headers, data).get_json()
    assert first["sha256"] == second["sha256"] and first["id"] != second["id"]
    folder = Path(app.config["UPLOAD_DIR"]) / first["sha256"][:2]
    assert [p.name for p in folder.iterdir() if p.name.startswith(first["sha256"])] == [
        f"{first['sha256']}.jpg"
    ]
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_twenty_megabytes_is_413(client, headers):
    data = _jpeg_with_gps() + b"\x00" * (20 * 1024 * 1024)
    _assert_error(_upload(client, headers, data), 413)
    assert db.session.query(Photo).count() == 0


def test_a_photo_over_the_per_photo_limit_is_413(client, headers, app, monkeypatch):
    monkeypatch.setitem(app.config, "PHOTO_MAX_BYTES", 1000)
    body = _assert_error(_upload(client, headers, _jpeg_with_gps(size=(400, 400))), 413)
    assert body["code"] == "photo_too_large"


def test_php_named_jpg_is_415(client, headers):
    php = b"<?php system($_GET['cmd']); ?>\n"
    body = _assert_error(_upload(client, headers, php, name="shell.jpg"), 415)
    assert body["code"] == "unsupported_image"


def test_gif_is_415_even_though_it_is_an_image(client, headers):
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "GIF")
    _assert_error(_upload(client, headers, buffer.getvalue(), name="a.jpg"), 415)


@pytest.mark.parametrize("size", [(30_000, 30_000), (8_000, 6_000)])
def test_a_png_declaring_too_many_pixels_is_refused_before_decoding(client, headers, size):
    body = _assert_error(_upload(client, headers, _png_header_only(*size), name="bomb.png"), 413)
    assert body["code"] == "image_too_many_pixels"


def test_a_truncated_jpeg_is_422(client, headers):
    data = _jpeg_with_gps(size=(300, 200))
    body = _assert_error(_upload(client, headers, data[: len(data) // 2]), 422)
    assert body["code"] == "image_corrupt"
    assert db.session.query(Photo).count() == 0


def test_missing_file_field_is_422(client, headers):
    body = _assert_error(
        client.post("/api/v1/uploads", data={"other": "x"}, headers=headers,
                    content_type="multipart/form-data"),
        422,
    )
    assert "file" in body["errors"]


def test_upload_without_a_token_is_401(client, app_ctx):
    _assert_error(_upload(client, {}, _jpeg_with_gps()), 401)


def test_the_uploader_can_fetch_the_photo_back(client, headers):
    body = _upload(client, headers, _jpeg_with_gps()).get_json()
    response = client.get(f"/api/v1/photos/{body['id']}", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "private" in response.headers["Cache-Control"]
    assert Image.open(io.BytesIO(response.data)).size == (120, 80)


def test_resident_b_cannot_fetch_resident_a_photo(client, headers):
    photo_id = _upload(client, headers, _jpeg_with_gps()).get_json()["id"]
    other = session_headers(make_person("居民乙", openid="o-resident-b"))
    body = _assert_error(client.get(f"/api/v1/photos/{photo_id}", headers=other), 404)
    assert body == _assert_error(client.get("/api/v1/photos/no-such-photo", headers=other), 404)
    _assert_error(client.get(f"/api/v1/photos/{photo_id}"), 401)


def _ticket(registry, reporter, kind=TicketKind.REPORT, **kw) -> Ticket:
    building = registry.buildings[0]
    ticket = Ticket(
        number=f"JY-20261122-{db.session.query(Ticket).count() + 1:04d}",
        kind=kind,
        status=TicketStatus.DISPATCHED,
        category_id=registry.categories["light" if kind is TicketKind.REPORT else "wish"].id,
        building_id=building.id,
        grid_id=building.grid_id,
        community_id=registry.community.id,
        street_id=registry.street.id,
        description="楼道灯坏了",
        reporter_id=reporter.id,
        **kw,
    )
    db.session.add(ticket)
    db.session.flush()
    return ticket


def test_attached_photo_is_seen_by_staff_in_scope_only(client, headers, resident):
    registry = make_registry()
    photo_id = _upload(client, headers, _jpeg_with_gps()).get_json()["id"]
    ticket = _ticket(registry, resident)
    assert claim_photos(load_actor(resident.id), [photo_id], ticket.id) == [photo_id]
    db.session.commit()
    in_scope = session_headers(registry.workers[0])  # grid 1 worker
    out_of_scope = session_headers(registry.workers[1])
    assert client.get(f"/api/v1/photos/{photo_id}", headers=in_scope).status_code == 200
    assert client.get(f"/api/v1/photos/{photo_id}", headers=out_of_scope).status_code == 404
    assert client.get(f"/api/v1/photos/{photo_id}", headers=headers).status_code == 200


def test_hidden_photo_is_shown_to_staff_in_scope_but_not_its_uploader(client, headers, resident):
    registry = make_registry()
    photo_id = _upload(client, headers, _jpeg_with_gps()).get_json()["id"]
    ticket = _ticket(registry, resident)
    claim_photos(load_actor(resident.id), [photo_id], ticket.id)
    db.session.get(Photo, photo_id).is_hidden = True
    db.session.commit()
    assert client.get(f"/api/v1/photos/{photo_id}", headers=headers).status_code == 404
    staff = session_headers(registry.community_staff)
    assert client.get(f"/api/v1/photos/{photo_id}", headers=staff).status_code == 200


def test_claiming_someone_elses_or_a_used_photo_is_refused(client, headers, resident):
    from webapp.errors import Invalid

    registry = make_registry()
    photo_id = _upload(client, headers, _jpeg_with_gps()).get_json()["id"]
    first = _ticket(registry, resident)
    second = _ticket(registry, resident)
    claim_photos(load_actor(resident.id), [photo_id], first.id)
    assert claim_photos(load_actor(resident.id), [photo_id], first.id) == [photo_id]  # again: fine
    with pytest.raises(Invalid) as caught:
        claim_photos(load_actor(resident.id), [photo_id], second.id)
    assert "photo_ids" in caught.value.errors
    other = make_person("居民乙")
    with pytest.raises(Invalid):
        claim_photos(load_actor(other.id), [photo_id], first.id)


def test_anonymous_wish_photo_forgets_its_uploader(client, headers, resident):
    registry = make_registry()
    photo_id = _upload(client, headers, _jpeg_with_gps()).get_json()["id"]
    ticket = _ticket(registry, resident, kind=TicketKind.WISH)
    claim_photos(load_actor(resident.id), [photo_id], ticket.id, forget_uploader=True)
    db.session.commit()
    assert db.session.get(Photo, photo_id).uploader_id is None
