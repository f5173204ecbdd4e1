"""One key per purpose, derived from SECRET_KEY with HKDF (SHA-256), never SECRET_KEY itself.

`derived_key(purpose)` is the key a purpose signs or hashes with now; `verification_keys(purpose)`
adds the same purpose's key derived from SECRET_KEY_PREVIOUS (the key before a rotation, see
docs/operations.md "Rotating SECRET_KEY") and, for the purposes that existed before keys were
derived, SECRET_KEY itself as it was used then (LEGACY_PURPOSES), so that follow links already
sent and forms already open stay valid. A key of one purpose tells nothing about another's.

Purposes:
- the console's Flask session cookie is signed by Flask with SECRET_KEY itself (itsdangerous
  derives its own key with a salt); SECRET_KEY_PREVIOUS becomes Flask's SECRET_KEY_FALLBACKS;
- "wechat-session-key": the Fernet key of WeChat session keys at rest (webapp/people/auth.py);
- "follow-link": the phone page's private follow links /t/<id>/<token> (webapp/h5/follow.py);
- "h5-form": the phone page's signed form tokens (webapp/h5/report.py);
- "h5-guest": the id of the guest a cookieless form post gets (webapp/h5/guest.py);
- "wish-reporter": the keyed hash that lets an anonymous wish's author find it
  (webapp/tickets/wishes.py);
- "media-check": the capability URL WeChat's image checker fetches a photo with
  (webapp/tickets/photos.py);
- "idempotency": the hash of a submission's Idempotency-Key, stored with its claim: a retry
  finds its ticket under every accepted key (webapp/tickets/submission.py);
- "bind-code": the hash of a staff bind code (webapp/people/bindings.py);
- "personal-data": PERSONAL_DATA_KEY in development and tests, where none is set (the key of
  personal fields at rest and of their lookup hashes: webapp/privacy/sealing.py).

Bearer tokens are hashed with plain SHA-256 (webapp/people/auth.py), on purpose: they are 256
random bits, so a key adds nothing, and a rotation does not log every resident out.
"""
from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

PURPOSES = frozenset(
    {
        "wechat-session-key",
        "follow-link",
        "h5-form",
        "h5-guest",
        "wish-reporter",
        "media-check",
        "idempotency",
        "bind-code",
        "personal-data",
    }
)
# Purposes whose values were made with SECRET_KEY itself before keys were derived: values of
# then (follow links on paper, anonymous wishes' hashes, the hashes of idempotency keys and of
# unused bind codes in the database) still verify with it.
LEGACY_PURPOSES = frozenset(
    {"follow-link", "h5-form", "wish-reporter", "wechat-session-key", "idempotency", "bind-code"}
)
KEY_BYTES = 32


@lru_cache(maxsize=64)
def _derive(secret: str, purpose: str) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=b"gridreport-keys-v1",
        info=f"gridreport:{purpose}".encode(),
    )
    return hkdf.derive(secret.encode("utf-8"))


def _check(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown key purpose {purpose!r}; add it to webapp/keys.py PURPOSES")


def derived_key(purpose: str, secret: str | None = None) -> bytes:
    """The key of one purpose, derived from SECRET_KEY (or the secret given)."""
    _check(purpose)
    return _derive(secret if secret is not None else current_app.config["SECRET_KEY"], purpose)


def previous_secrets() -> list[str]:
    """SECRET_KEY_PREVIOUS: the secret(s) before a rotation, comma-separated, newest first."""
    raw = current_app.config.get("SECRET_KEY_PREVIOUS") or ""
    return [part.strip() for part in raw.split(",") if part.strip()]


def accepted_secrets() -> list[str]:
    """SECRET_KEY, then SECRET_KEY_PREVIOUS's secrets."""
    return [current_app.config["SECRET_KEY"], *previous_secrets()]


def legacy_accepted(purpose: str) -> bool:
    return purpose in LEGACY_PURPOSES and bool(current_app.config.get("ACCEPT_LEGACY_SECRET_KEY", True))


def verification_keys(purpose: str) -> list[bytes]:
    """Every key a value of this purpose may have been made with: the current key first, then
    the previous secrets' keys, then (legacy purposes) the secrets themselves as used before."""
    _check(purpose)
    secrets = accepted_secrets()
    keys = [_derive(secret, purpose) for secret in secrets]
    if legacy_accepted(purpose):
        keys += [secret.encode("utf-8") for secret in secrets]
    return list(dict.fromkeys(keys))
