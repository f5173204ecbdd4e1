"""Uploads with bounded memory: reduced-size decoding, a pixel cap per request, a cap on the
photos decoded at once per process (503 with Retry-After beyond it), and malloc_trim after a
burst (webapp/tickets/photos.py)."""
from __future__ import annotations

import io
import re
import threading
import time

import pytest
from PIL import Image, JpegImagePlugin

from tests.factories import make_person, make_registry, session_headers
from webapp.extensions import db
from webapp.tickets import photos
from webapp.tickets.models import Photo, Ticket

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _png(size, color=(0, 0, 0)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def _jpeg(size, orientation=None) -> bytes:
    buffer = io.BytesIO()
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    Image.new("RGB", size, (10, 120, 200)).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def _upload(client, headers, data: bytes, name="photo.png"):
    return client.post(
        "/api/v1/uploads",
        data={"file": (io.BytesIO(data), name)},
        headers=headers,
        content_type="multipart/form-data",
    )


@pytest.fixture
def headers(app_ctx):
    return session_headers(make_person("居民甲", openid="o-resident-memory"))


@pytest.fixture(autouse=True)
def _gate_is_idle():
    yield
    assert photos.GATE.active == 0  # no test leaves a decode slot taken


def _stored_size(body) -> tuple[int, int]:
    photo = db.session.get(Photo, body["id"])
    with Image.open(photos.photo_file_path(photo.sha256, photo.content_type)) as stored:
        return stored.size


# --- decoding at reduced size -----------------------------------------------------------------


def test_a_big_png_is_accepted_and_stored_downscaled(client, headers, app):
    assert app.config["PHOTO_MAX_SIDE"] == 2560  # the default
    response = _upload(client, headers, _png((3000, 2000)))
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["width"], body["height"]) == (2560, 1707)
    assert body["content_type"] == "image/png"
    assert _stored_size(body) == (2560, 1707)


def test_the_issue_png_of_6000_by_6600_black_pixels_is_stored_downscaled(client, headers):
    data = _png((6000, 6600))
    assert len(data) < 200_000  # ~112 KB that decode to 40 MP
    body = _upload(client, headers, data).get_json()
    assert (body["width"], body["height"]) == (2327, 2560)


def test_a_jpeg_is_decoded_at_reduced_size_by_draft(client, headers, app, monkeypatch):
    monkeypatch.setitem(app.config, "PHOTO_MAX_SIDE", 1000)
    drafted, decoded = [], []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = original(self, mode, size)
        drafted.append((size, self.size))
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    monkeypatch.setattr(photos.GATE, "decoded", decoded.append)
    body = _upload(client, headers, _jpeg((6000, 4000)), name="big.jpg").get_json()
    # asked for the fitted size; the decoder scaled by 1/4, never below it (thumbnail's own
    # draft call afterwards changes nothing: a JPEG is drafted once)
    assert drafted[0] == ((1000, 667), (1500, 1000))
    assert decoded == [1500 * 1000]  # what was decoded: 1/16 of the 24 MP
    assert max(body["width"], body["height"]) <= 1000
    assert (body["width"], body["height"]) == _stored_size(body) == (1000, 667)


def test_a_jpeg_that_fits_is_not_drafted_nor_resized(client, headers, monkeypatch):
    drafted = []
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", lambda self, *a: drafted.append(a))
    body = _upload(client, headers, _jpeg((1200, 900)), name="ok.jpg").get_json()
    assert drafted == [] and (body["width"], body["height"]) == (1200, 900)


def test_exif_orientation_still_applies_to_a_downscaled_jpeg(client, headers, app, monkeypatch):
    monkeypatch.setitem(app.config, "PHOTO_MAX_SIDE", 100)
    body = _upload(client, headers, _jpeg((400, 200), orientation=6), name="r.jpg").get_json()
    assert (body["width"], body["height"]) == (50, 100)  # upright and fitted
    photo = db.session.get(Photo, body["id"])
    data = photos.photo_file_path(photo.sha256, photo.content_type).read_bytes()
    assert b"Exif" not in data


def test_a_palette_png_is_downscaled_in_its_output_mode(client, headers, app, monkeypatch):
    monkeypatch.setitem(app.config, "PHOTO_MAX_SIDE", 50)
    buffer = io.BytesIO()
    Image.new("RGB", (200, 100), (200, 10, 10)).convert("P").save(buffer, "PNG")
    body = _upload(client, headers, buffer.getvalue()).get_json()
    assert (body["width"], body["height"], body["content_type"]) == (50, 25, "image/png")


def test_max_side_zero_keeps_the_full_size(client, headers, app, monkeypatch):
    monkeypatch.setitem(app.config, "PHOTO_MAX_SIDE", 0)
    body = _upload(client, headers, _png((3000, 200))).get_json()
    assert (body["width"], body["height"]) == (3000, 200)


# --- decoded pixels per request ---------------------------------------------------------------


@pytest.fixture
def code(app_ctx):
    registry = make_registry()
    return registry.codes[registry.buildings[0].id]


def _post_form(client, code, files):
    from tests.h5.test_report_form import _post

    return _post(client, code, photos=files)


def test_the_phone_form_refuses_photos_whose_pixels_together_pass_the_cap(
    client, code, app, monkeypatch
):
    monkeypatch.setitem(app.config, "PHOTO_MAX_REQUEST_PIXELS", 2_500_000)
    big = [(_png((1000, 1000), (n, 0, 0)), f"{n}.png") for n in range(3)]
    response = _post_form(client, code, big)
    html = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "第3张照片：本次上传的照片总像素过大（超过 2 百万像素），请减少照片数量或缩小后再上传" in html
    assert db.session.query(Ticket).count() == 0 and db.session.query(Photo).count() == 0

    response = _post_form(client, code, big[:2])  # 2 MP together: under the cap
    assert response.status_code == 303, response.get_data(as_text=True)
    assert db.session.query(Photo).count() == 2


def test_the_pixel_cap_counts_each_request_alone(client, headers, app, monkeypatch):
    monkeypatch.setitem(app.config, "PHOTO_MAX_REQUEST_PIXELS", 1_500_000)
    for n in range(3):  # 1 MP each, three requests
        assert _upload(client, headers, _png((1000, 1000), (n, 0, 0))).status_code == 201
    body = _upload(client, headers, _png((1300, 1200))).get_json()
    assert body["code"] == "request_too_many_pixels" and CHINESE.search(body["message"])


def test_the_pixel_cap_counts_pixels_decoded_after_draft(client, headers, app, monkeypatch):
    monkeypatch.setitem(app.config, "PHOTO_MAX_REQUEST_PIXELS", 2_000_000)
    monkeypatch.setitem(app.config, "PHOTO_MAX_SIDE", 1000)
    # 24 MP declared, 1.5 MP decoded (1/4 scale): under the cap
    assert _upload(client, headers, _jpeg((6000, 4000)), name="a.jpg").status_code == 201


# --- photos decoded at once per process -------------------------------------------------------


def test_a_full_process_answers_503_with_retry_after_in_the_contract_shape(
    client, headers, app, monkeypatch
):
    monkeypatch.setitem(app.config, "PHOTO_DECODES_PER_PROCESS", 1)
    monkeypatch.setitem(app.config, "PHOTO_DECODE_WAIT_SECONDS", 0.05)
    with photos.GATE.slot(1, 0, trim=False):  # another request is decoding
        started = time.monotonic()
        response = _upload(client, headers, _png((40, 30)))
        waited = time.monotonic() - started
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(photos.BUSY_RETRY_AFTER_SECONDS)
    body = response.get_json()
    assert set(body) == {"code", "message", "errors"}
    assert body["code"] == "uploads_busy"
    assert body["message"] == "当前上传照片的人较多，请稍后重试"
    assert waited >= 0.05
    assert db.session.query(Photo).count() == 0
    assert _upload(client, headers, _png((40, 30))).status_code == 201  # free again


def _slow_decode_in_a_thread(app, monkeypatch, seconds):
    """Another request's decode, slowed down, holding the only slot for `seconds`."""
    original = photos._decode_clean
    entered = threading.Event()

    def slow(image, max_side=0):
        if threading.current_thread().name == "slow-upload":
            entered.set()
            time.sleep(seconds)
        return original(image, max_side)

    monkeypatch.setattr(photos, "_decode_clean", slow)

    def other_request():
        with app.app_context():
            photos._clean_payload(_png((30, 20)), 40_000_000)

    thread = threading.Thread(target=other_request, name="slow-upload")
    thread.start()
    assert entered.wait(5)
    return thread


def test_with_one_slot_a_second_upload_waits_briefly_for_a_slow_one(
    client, headers, app, monkeypatch
):
    monkeypatch.setitem(app.config, "PHOTO_DECODES_PER_PROCESS", 1)
    monkeypatch.setitem(app.config, "PHOTO_DECODE_WAIT_SECONDS", 5)
    thread = _slow_decode_in_a_thread(app, monkeypatch, 0.3)
    started = time.monotonic()
    response = _upload(client, headers, _png((40, 30)))
    thread.join()
    assert response.status_code == 201
    assert time.monotonic() - started >= 0.2  # it waited for the slow one


def test_with_one_slot_a_second_upload_gets_503_when_the_wait_is_over(
    client, headers, app, monkeypatch
):
    monkeypatch.setitem(app.config, "PHOTO_DECODES_PER_PROCESS", 1)
    monkeypatch.setitem(app.config, "PHOTO_DECODE_WAIT_SECONDS", 0.05)
    thread = _slow_decode_in_a_thread(app, monkeypatch, 0.5)
    response = _upload(client, headers, _png((40, 30)))
    thread.join()
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert CHINESE.search(response.get_json()["message"])


def test_the_phone_form_shows_the_busy_message_in_chinese(client, code, app, monkeypatch):
    monkeypatch.setitem(app.config, "PHOTO_DECODES_PER_PROCESS", 1)
    monkeypatch.setitem(app.config, "PHOTO_DECODE_WAIT_SECONDS", 0.01)
    with photos.GATE.slot(1, 0, trim=False):
        response = _post_form(client, code, [(_png((40, 30)), "a.png")])
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(photos.BUSY_RETRY_AFTER_SECONDS)
    assert "第1张照片：当前上传照片的人较多，请稍后重试" in response.get_data(as_text=True)
    assert db.session.query(Ticket).count() == 0


# --- memory handed back after a burst ---------------------------------------------------------


@pytest.fixture
def trims(monkeypatch):
    calls = []
    monkeypatch.setattr(photos, "_malloc_trim", calls.append)
    monkeypatch.setattr(photos, "TRIM_AFTER_PIXELS", 1000)
    return calls


def test_malloc_trim_runs_when_the_last_decode_of_a_burst_ends(client, headers, trims):
    assert _upload(client, headers, _png((100, 100))).status_code == 201
    assert trims == [0]


def test_no_trim_while_another_decode_is_running(client, headers, trims):
    with photos.GATE.slot(2, 0, trim=True):  # another upload of the burst, still decoding
        assert _upload(client, headers, _png((100, 100))).status_code == 201
        assert trims == []
    assert trims == [0]  # the last one out trims


def test_no_trim_after_small_photos_or_when_turned_off(client, headers, app, trims, monkeypatch):
    assert _upload(client, headers, _png((20, 20))).status_code == 201  # 400 px < 1000
    monkeypatch.setitem(app.config, "PHOTO_MALLOC_TRIM", False)
    assert _upload(client, headers, _png((100, 100))).status_code == 201
    assert trims == []


def test_release_memory_is_a_no_op_without_glibc(monkeypatch):
    monkeypatch.setattr(photos, "_malloc_trim", None)
    assert photos.release_memory() is False


def test_malloc_trim_is_found_on_glibc():
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert photos._malloc_trim is not None and photos.release_memory() is True
