"""Phone numbers at rest: sealed with a field cipher, found again by a keyed hash.

The key is PERSONAL_DATA_KEY (production refuses to start without one of at least 32 bytes;
development and tests derive it from SECRET_KEY, webapp/keys.py "personal-data"). Two keys are
derived from it with HKDF, one per use: the Fernet key that seals a value (AES-128-CBC with
HMAC-SHA256, a random IV: two seals of one number differ) and the HMAC-SHA256 key of its
lookup hash (equal numbers, equal hashes: what a query compares, never the number).

Rotation: the new key goes to PERSONAL_DATA_KEY and the old one to PERSONAL_DATA_KEY_PREVIOUS
(comma-separated, newest first). Sealed values of every accepted key open (MultiFernet); a
lookup compares the hashes under every accepted key; `flask privacy rekey` then re-seals and
re-hashes every row under the new key, after which the previous key can be dropped.

A stored value without the SEALED_PREFIX is a plain one of before migration 0007 (or written
by raw SQL, as bench data is): it is read as it is, and `flask privacy rekey` seals it.

`SealedString` is the column type of people.phone: the ORM and Core statements seal on write
and open on read. tickets.contact_phone is sealed by the Ticket model's property instead (the
submission writes the ticket row as JSON on PostgreSQL, webapp/tickets/filing.py, which passes
no value through a column type).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import String
from sqlalchemy.types import TypeDecorator

from webapp.keys import derived_key

SEALED_PREFIX = "f1:"  # Fernet, keys derived as below (version 1)
SEALED_LENGTH = 255  # the column: a sealed 20-character number is about 125 characters
HASH_LENGTH = 64
PERSONAL_DATA_KEY_MIN_BYTES = 32
_SEPARATORS = re.compile(r"[\s\-()（）]")


class SealingKeyError(RuntimeError):
    """A sealed value none of the accepted keys opens: the key was changed without
    PERSONAL_DATA_KEY_PREVIOUS."""


def personal_data_secrets() -> list[bytes]:
    """PERSONAL_DATA_KEY (or, where none is set outside production, the key derived from
    SECRET_KEY), then PERSONAL_DATA_KEY_PREVIOUS's keys."""
    config = current_app.config
    current = (config.get("PERSONAL_DATA_KEY") or "").strip() or development_key()
    first = current.encode("utf-8")
    previous = [
        part.strip().encode("utf-8")
        for part in (config.get("PERSONAL_DATA_KEY_PREVIOUS") or "").split(",")
        if part.strip()
    ]
    return list(dict.fromkeys([first, *previous]))


def development_key(secret_key: str | None = None) -> str:
    """The PERSONAL_DATA_KEY of development and tests (none set): derived from SECRET_KEY (or
    the secret given), as text, so that it can also be given as the setting."""
    return derived_key("personal-data", secret_key).hex()


@lru_cache(maxsize=32)
def _subkey(secret: bytes, use: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"gridreport-personal-data-v1",
        info=f"gridreport:personal-data:{use}".encode(),
    ).derive(secret)


@lru_cache(maxsize=8)
def _cipher(secrets: tuple[bytes, ...]) -> MultiFernet:
    return MultiFernet([Fernet(base64.urlsafe_b64encode(_subkey(s, "cipher"))) for s in secrets])


def _current_cipher() -> MultiFernet:
    return _cipher(tuple(personal_data_secrets()))


def is_sealed(value: str | None) -> bool:
    return value is not None and value.startswith(SEALED_PREFIX)


def seal(value: str | None) -> str | None:
    """The value sealed with the current key (None and "" stay None)."""
    if not value:
        return None
    if is_sealed(value):
        return value
    token = _current_cipher().encrypt(value.encode("utf-8")).decode("ascii")
    return SEALED_PREFIX + token


def unseal(value: str | None) -> str | None:
    """The plain value of a sealed one (a value of before sealing is returned as it is)."""
    if value is None or not is_sealed(value):
        return value
    try:
        return _current_cipher().decrypt(value[len(SEALED_PREFIX):].encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise SealingKeyError(
            "a sealed personal field opens with none of the accepted keys: set the key it was "
            "sealed with in PERSONAL_DATA_KEY_PREVIOUS (docs/privacy.md, key rotation)"
        ) from None


def sealed_with_current_key(value: str | None) -> bool:
    """Whether the current key (not only a previous one) opens this sealed value."""
    if not is_sealed(value):
        return False
    try:
        _cipher((personal_data_secrets()[0],)).decrypt(value[len(SEALED_PREFIX):].encode("ascii"))
    except InvalidToken:
        return False
    return True


def normal_phone(phone: str) -> str:
    """The number as it is compared: without spaces, dashes, brackets and a +86 / 0086 prefix."""
    digits = _SEPARATORS.sub("", phone or "")
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix) and len(digits) > len(prefix) + 7:
            return digits[len(prefix):]
    return digits


def _lookup_with(secret: bytes, phone: str) -> str:
    return hmac.new(_subkey(secret, "lookup"), f"phone:{normal_phone(phone)}".encode(), hashlib.sha256).hexdigest()


def phone_hash(phone: str | None) -> str | None:
    """The keyed lookup hash of a phone number under the current key (None for none)."""
    if not phone:
        return None
    return _lookup_with(personal_data_secrets()[0], phone)


def phone_hashes(phone: str) -> list[str]:
    """The number's lookup hash under every accepted key, the current one first (a lookup
    during a rotation finds rows not re-hashed yet)."""
    return [_lookup_with(secret, phone) for secret in personal_data_secrets()]


class SealedString(TypeDecorator):
    """A text column stored sealed (seal on write, unseal on read)."""

    impl = String(SEALED_LENGTH)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return seal(value)

    def process_result_value(self, value, dialect):
        return unseal(value)
