"""Where photo files live: a directory on local disk (the default) or an S3-compatible bucket.

A photo's file is named by its content: the key <sha[:2]>/<sha>.<ext> (webapp/tickets/photos.py
photo_key), so writing it again is harmless and two processes writing the same photo agree.

- local (PHOTO_STORAGE=local): UPLOAD_DIR/<key>, written atomically once; served with
  send_file (conditional requests and ranges).
- s3 (PHOTO_STORAGE=s3): the object S3_KEY_PREFIX<key> in S3_BUCKET (AWS S3, MinIO, or a
  cloud's OSS/COS through their S3 API), through boto3 with bounded timeouts and retries
  (botocore Config). The bucket stays private: the app checks who may see a photo, then streams
  the object through itself with the same ETag (the content hash) and caching headers as the
  local files; a request whose If-None-Match already names that ETag is answered 304 without
  asking the bucket.

A bucket that cannot be reached (down, timing out, refusing our credentials) makes the request
answer 503 photo_storage_unavailable with Retry-After, in the API's error shape; it is never a
500. The settings are read in webapp/config.py ("Photo storage") and described in
docs/operations.md ("Photo storage: local disk or S3").
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Protocol

from flask import Flask, Response, current_app, request, send_file

from webapp.errors import DomainError, NotFound

log = logging.getLogger(__name__)

EXTENSION_KEY = "photo_store"
STORAGE_KINDS = ("local", "s3")
RETRY_AFTER_SECONDS = 5
STREAM_CHUNK_BYTES = 64 * 1024
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
_build_lock = threading.Lock()


class PhotoStorageUnavailable(DomainError):
    """The photo storage (the S3 bucket) could not be reached or refused the request."""

    status = 503
    code = "photo_storage_unavailable"
    message = "照片存储暂时不可用，请稍后再试"

    def __init__(self, message: str | None = None, **kwargs) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(RETRY_AFTER_SECONDS)})
        super().__init__(message, **kwargs)


@dataclass(frozen=True)
class StoredPhoto:
    """A photo's file, as the access rules hand it to a door to send (send_photo)."""

    key: str
    content_type: str
    sha256: str


class PhotoStore(Protocol):
    kind: str

    def put(self, key: str, payload: bytes, content_type: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, keys: Iterable[str]) -> None: ...

    def send(self, photo: StoredPhoto, *, max_age: int) -> Response: ...


def key_of(path: Path) -> str:
    """The key a file path names (its last two parts: <sha[:2]>/<sha>.<ext>), whatever the
    directory: how photos.remove_files turns the paths it is given into keys."""
    return f"{path.parent.name}/{path.name}"


def _not_found() -> NotFound:
    return NotFound("未找到该照片", code="photo_not_found")


# --- local disk ----------------------------------------------------------------------------


class LocalPhotoStore:
    """Files under one directory (UPLOAD_DIR), as the app always kept them."""

    kind = "local"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key

    def put(self, key: str, payload: bytes, content_type: str) -> None:
        """Write atomically (a temporary file renamed); the same bytes are written only once."""
        target = self.path(key)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".upload-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, 0o644)
            os.replace(temp, target)
        except BaseException:
            if os.path.exists(temp):
                os.unlink(temp)
            raise

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            try:
                self.path(key).unlink()
            except FileNotFoundError:
                pass

    def send(self, photo: StoredPhoto, *, max_age: int) -> Response:
        path = self.path(photo.key)
        if not path.is_file():
            log.error("photo file %s is missing", path)
            raise _not_found()
        return send_file(path, mimetype=photo.content_type, etag=photo.sha256, max_age=max_age)


# --- S3-compatible bucket -------------------------------------------------------------------


class S3PhotoStore:
    """Objects in one private bucket, read and written through a boto3 client (thread-safe)."""

    kind = "s3"

    def __init__(self, client, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def object_key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def put(self, key: str, payload: bytes, content_type: str) -> None:
        """Upload unless the object is there already (content-addressed: same key, same bytes;
        a concurrent writer of the same photo writes the same object)."""
        if self.exists(key):
            return
        with self._unavailable_on_error("put", key):
            self.client.put_object(
                Bucket=self.bucket, Key=self.object_key(key), Body=payload, ContentType=content_type
            )

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            with self._unavailable_on_error("head", key, passing=(ClientError,)):
                self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as error:
            if _is_missing(error):
                return False
            raise self._unavailable("head", key, error) from error
        return True

    def delete(self, keys: Iterable[str]) -> None:
        keys = sorted(set(keys))
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start:start + DELETE_BATCH]
            with self._unavailable_on_error("delete", ", ".join(batch)):
                answer = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": self.object_key(k)} for k in batch], "Quiet": True},
                )
            failed = answer.get("Errors") or []
            if failed:
                log.error("photo storage refused to delete %s", failed)
                raise PhotoStorageUnavailable()

    def send(self, photo: StoredPhoto, *, max_age: int) -> Response:
        if request.if_none_match.contains(photo.sha256):
            # The client holds these very bytes (the ETag is their hash): no bucket round trip.
            response = Response(status=304)
        else:
            answer = self._get(photo.key)
            body = answer["Body"]
            response = Response(
                _chunks(body, photo.key), mimetype=photo.content_type, direct_passthrough=True
            )
            response.content_length = answer.get("ContentLength")
            response.last_modified = answer.get("LastModified")
            response.call_on_close(body.close)
            response.headers.set("Content-Disposition", "inline", filename=photo.key.rsplit("/", 1)[-1])
        # What send_file sets for a file on disk (werkzeug.utils.send_file).
        if max_age > 0:
            response.cache_control.no_cache = None
            response.cache_control.public = True
        response.cache_control.max_age = max_age
        response.set_etag(photo.sha256)
        return response

    def _get(self, key: str) -> dict:
        from botocore.exceptions import ClientError

        try:
            with self._unavailable_on_error("get", key, passing=(ClientError,)):
                return self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as error:
            if _is_missing(error):
                log.error("photo object %s is missing from bucket %s", key, self.bucket)
                raise _not_found() from None
            raise self._unavailable("get", key, error) from error

    def _unavailable(self, action: str, key: str, error: Exception) -> PhotoStorageUnavailable:
        log.error("photo storage %s of %s in bucket %s failed: %s", action, key, self.bucket, error)
        return PhotoStorageUnavailable()

    @contextmanager
    def _unavailable_on_error(self, action: str, key: str, passing: tuple = ()) -> Iterator[None]:
        """Turn botocore's failures (connection, timeout, refusals) into PhotoStorageUnavailable;
        `passing` are let through for the caller to sort (a missing object)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except passing:
            raise
        except (BotoCoreError, ClientError, OSError) as error:
            raise self._unavailable(action, key, error) from error


def _is_missing(error) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}


def _chunks(body, key: str) -> Iterator[bytes]:
    """The object's bytes as they arrive. A bucket failing half-way cuts the answer short
    (the headers are gone already): logged, and the client sees a truncated download."""
    try:
        while True:
            chunk = body.read(STREAM_CHUNK_BYTES)
            if not chunk:
                return
            yield chunk
    except Exception as error:  # noqa: BLE001 - nothing else can be done mid-answer
        log.error("photo object %s cut short while streaming: %s", key, error)
        raise


# --- the app's store ------------------------------------------------------------------------


def s3_client(config):
    """A boto3 S3 client from the settings: credentials from S3_ACCESS_KEY_ID and
    S3_SECRET_ACCESS_KEY, else boto3's own chain (AWS_* variables, instance role); timeouts
    and attempts bounded so that a hung bucket fails a request within seconds."""
    import boto3
    from botocore.config import Config as BotoConfig

    options = {}
    if config.get("S3_ACCESS_KEY_ID"):
        options["aws_access_key_id"] = config["S3_ACCESS_KEY_ID"]
        options["aws_secret_access_key"] = config.get("S3_SECRET_ACCESS_KEY", "")
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=config.get("S3_ENDPOINT_URL") or None,
        region_name=config.get("S3_REGION") or None,
        config=BotoConfig(
            connect_timeout=float(config.get("S3_CONNECT_TIMEOUT_SECONDS", 2)),
            read_timeout=float(config.get("S3_READ_TIMEOUT_SECONDS", 5)),
            retries={"max_attempts": int(config.get("S3_MAX_ATTEMPTS", 2)), "mode": "standard"},
            s3={"addressing_style": config.get("S3_ADDRESSING_STYLE", "auto")},
            max_pool_connections=int(config.get("S3_MAX_POOL_CONNECTIONS", 10)),
        ),
        **options,
    )


def store_from_config(config) -> PhotoStore:
    kind = config.get("PHOTO_STORAGE", "local")
    if kind == "local":
        return LocalPhotoStore(config["UPLOAD_DIR"])
    if kind == "s3":
        if not config.get("S3_BUCKET"):
            raise RuntimeError("PHOTO_STORAGE=s3 needs S3_BUCKET (and S3_ENDPOINT_URL outside AWS)")
        return S3PhotoStore(s3_client(config), config["S3_BUCKET"], config.get("S3_KEY_PREFIX", ""))
    raise RuntimeError(f"PHOTO_STORAGE must be one of {', '.join(STORAGE_KINDS)}, not {kind!r}")


def init_photo_store(app: Flask, store: PhotoStore | None = None) -> PhotoStore:
    """Put a store on the app (tests may pass their own); built lazily otherwise."""
    store = store or store_from_config(app.config)
    app.extensions[EXTENSION_KEY] = store
    return store


def get_photo_store() -> PhotoStore:
    """The current app's store, built from its config on first use (no network until then)."""
    app = current_app._get_current_object()
    store = app.extensions.get(EXTENSION_KEY)
    if store is None:
        with _build_lock:
            store = app.extensions.get(EXTENSION_KEY) or init_photo_store(app)
    return store


def send_photo(photo: StoredPhoto, *, max_age: int) -> Response:
    """The answer carrying a photo's bytes, ETag = its content hash, cached for max_age.
    Raises NotFound if its file is gone, PhotoStorageUnavailable (503) if the bucket fails."""
    return get_photo_store().send(photo, max_age=max_age)
