"""Photos in an S3-compatible bucket (PHOTO_STORAGE=s3): moto's S3 server on a free port, the
real boto3 client over HTTP. An upload through the API lands in the bucket once per content,
comes back byte for byte with the same ETag and caching headers as a file on disk, is deleted
with its person's withdrawal, and a bucket that is down answers 503 in the API's error shape."""
from __future__ import annotations

import hashlib
import io

import pytest
import requests
from moto.server import ThreadedMotoServer
from sqlalchemy import select

from tests.factories import auth_headers, jpeg_bytes, make_registry, submit, upload_photo
from tests.ports import free_port
from webapp.extensions import db
from webapp.people.models import Person
from webapp.photo_store import LocalPhotoStore, S3PhotoStore, key_of, s3_client
from webapp.tickets import photos
from webapp.tickets.models import Photo

BUCKET = "gridreport-photos"
PREFIX = "photos/"


def s3_settings(endpoint: str) -> dict:
    """The settings a process is given for the bucket (what webapp/config.py reads)."""
    return {
        "PHOTO_STORAGE": "s3",
        "S3_BUCKET": BUCKET,
        "S3_KEY_PREFIX": PREFIX,
        "S3_ENDPOINT_URL": endpoint,
        "S3_REGION": "us-east-1",
        "S3_ACCESS_KEY_ID": "testing",
        "S3_SECRET_ACCESS_KEY": "testing",
        "S3_ADDRESSING_STYLE": "path",
        "S3_CONNECT_TIMEOUT_SECONDS": 1,
        "S3_READ_TIMEOUT_SECONDS": 2,
        "S3_MAX_ATTEMPTS": 2,
    }


def start_moto() -> tuple[ThreadedMotoServer, str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto keeps one backend per process, whichever server fronts it: start from nothing.
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    s3_client(s3_settings(endpoint)).create_bucket(Bucket=BUCKET)
    return server, endpoint


@pytest.fixture
def bucket(app, monkeypatch):
    """The app's photos in a fresh bucket of a moto server of this test's own; yields a boto3
    client on it (to look inside the bucket)."""
    server, endpoint = start_moto()
    settings = s3_settings(endpoint)
    client = s3_client(settings)
    store = S3PhotoStore(client, BUCKET, PREFIX)
    monkeypatch.setitem(app.extensions, "photo_store", store)
    try:
        yield client
    finally:
        server.stop()


@pytest.fixture
def resident_headers(client, app_ctx):
    return auth_headers(client, openid="o-s3-resident")


def object_keys(client) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def stored_object(client, photo: Photo) -> bytes:
    key = PREFIX + photos.photo_key(photo.sha256, photo.content_type)
    return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def test_s3_upload_lands_in_the_bucket_and_comes_back_identically(client, bucket, resident_headers, app):
    photo_id = upload_photo(client, resident_headers, jpeg_bytes(size=(80, 60)))
    photo = db.session.get(Photo, photo_id)
    assert object_keys(bucket) == [f"{PREFIX}{photo.sha256[:2]}/{photo.sha256}.jpg"]
    assert not photos.photo_file_path(photo.sha256, photo.content_type).exists()  # not on disk
    in_bucket = stored_object(bucket, photo)
    assert hashlib.sha256(in_bucket).hexdigest() == photo.sha256

    served = client.get(f"/api/v1/photos/{photo_id}", headers=resident_headers)
    assert served.status_code == 200
    assert served.data == in_bucket
    assert served.mimetype == "image/jpeg"
    assert served.headers["ETag"] == f'"{photo.sha256}"'
    assert served.headers["Cache-Control"] == "private, max-age=3600"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert int(served.headers["Content-Length"]) == len(in_bucket)

    again = client.get(
        f"/api/v1/photos/{photo_id}", headers={**resident_headers, "If-None-Match": f'"{photo.sha256}"'}
    )
    assert again.status_code == 304 and again.data == b""


def test_s3_serving_answers_as_the_local_disk_does(client, bucket, resident_headers, app, tmp_path, monkeypatch):
    """The same photo served from the bucket and from a directory: same bytes, same headers
    (but Date, Expires and Last-Modified, which are times)."""
    photo_id = upload_photo(client, resident_headers, jpeg_bytes(color=(10, 200, 10)))
    photo = db.session.get(Photo, photo_id)
    from_s3 = client.get(f"/api/v1/photos/{photo_id}", headers=resident_headers)
    local = LocalPhotoStore(tmp_path)
    local.put(photos.photo_key(photo.sha256, photo.content_type), stored_object(bucket, photo), photo.content_type)
    monkeypatch.setitem(app.extensions, "photo_store", local)
    from_disk = client.get(f"/api/v1/photos/{photo_id}", headers=resident_headers)
    assert from_disk.status_code == from_s3.status_code == 200
    assert from_disk.data == from_s3.data
    timeless = lambda response: {  # noqa: E731
        name: value for name, value in response.headers.items()
        if name not in {"Date", "Expires", "Last-Modified", "Accept-Ranges"}
    }
    assert timeless(from_disk) == timeless(from_s3)


def test_s3_writes_are_idempotent_by_content(client, bucket, resident_headers):
    data = jpeg_bytes(color=(5, 5, 250))
    first = upload_photo(client, resident_headers, data)
    second = upload_photo(client, resident_headers, data)
    assert first != second
    rows = db.session.scalars(select(Photo).where(Photo.id.in_([first, second]))).all()
    assert len({row.sha256 for row in rows}) == 1
    assert len(object_keys(bucket)) == 1
    for photo_id in (first, second):
        assert client.get(f"/api/v1/photos/{photo_id}", headers=resident_headers).status_code == 200


def test_s3_forgetting_a_person_deletes_their_loose_photos_from_the_bucket(client, bucket, app_ctx):
    registry = make_registry()
    db.session.commit()
    headers = auth_headers(client, openid="o-s3-forget")
    attached = upload_photo(client, headers)
    filed = submit(client, headers, registry.codes[registry.buildings[0].id], photo_ids=[attached])
    assert filed.status_code == 201, filed.get_json()
    loose = upload_photo(client, headers, jpeg_bytes(color=(1, 2, 250)))
    assert len(object_keys(bucket)) == 2
    person = db.session.scalars(select(Person).where(Person.openid == "o-s3-forget")).one()

    unused = photos.forget_photos_of(person.id)
    db.session.commit()
    loose_photo_key = PREFIX + key_of(unused[0])
    assert len(unused) == 1 and loose_photo_key in object_keys(bucket)  # kept until remove_files
    photos.remove_files(unused)

    assert db.session.get(Photo, loose) is None
    kept = db.session.get(Photo, attached)
    assert object_keys(bucket) == [PREFIX + photos.photo_key(kept.sha256, kept.content_type)]
    assert client.get(f"/api/v1/photos/{attached}", headers=headers).status_code == 200


def test_s3_media_check_fetch_streams_from_the_bucket(client, bucket, resident_headers):
    photo_id = upload_photo(client, resident_headers)
    photo = db.session.get(Photo, photo_id)
    fetched = client.get(f"/wechat/media/{photo_id}/{photos.media_check_token(photo_id)}")
    assert fetched.status_code == 200 and fetched.data == stored_object(bucket, photo)
    wrong = client.get(f"/wechat/media/{photo_id}/{'0' * 32}")
    assert wrong.status_code == 404


def test_s3_object_gone_is_a_404_not_a_500(client, bucket, resident_headers):
    photo_id = upload_photo(client, resident_headers)
    for key in object_keys(bucket):
        bucket.delete_object(Bucket=BUCKET, Key=key)
    response = client.get(f"/api/v1/photos/{photo_id}", headers=resident_headers)
    assert response.status_code == 404
    assert response.get_json()["code"] == "photo_not_found"


def test_s3_bucket_outage_is_a_503_in_the_contract_shape(client, app, resident_headers, monkeypatch):
    server, endpoint = start_moto()
    store = S3PhotoStore(s3_client(s3_settings(endpoint)), BUCKET, PREFIX)
    monkeypatch.setitem(app.extensions, "photo_store", store)
    photo_id = upload_photo(client, resident_headers)
    server.stop()  # the bucket goes away

    served = client.get(f"/api/v1/photos/{photo_id}", headers=resident_headers)
    assert served.status_code == 503
    body = served.get_json()
    assert set(body) == {"code", "message", "errors"}
    assert body["code"] == "photo_storage_unavailable" and body["message"] == "照片存储暂时不可用，请稍后再试"
    assert served.headers["Retry-After"] == "5"

    before = db.session.scalar(select(db.func.count()).select_from(Photo))
    uploaded = client.post(
        "/api/v1/uploads",
        data={"file": (io.BytesIO(jpeg_bytes(color=(9, 9, 9))), "photo.jpg")},
        headers=resident_headers,
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 503
    assert uploaded.get_json()["code"] == "photo_storage_unavailable"
    db.session.expire_all()
    assert db.session.scalar(select(db.func.count()).select_from(Photo)) == before  # no row without its file

    # A withdrawal after its commit cannot delete from a bucket that is down: logged, not raised.
    photos.remove_files([photos.photo_file_path("ab" * 32, "image/jpeg")])
