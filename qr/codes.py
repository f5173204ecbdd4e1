"""Unguessable building codes drawn from WeChat's scene alphabet."""

import secrets
import string

SCENE_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase + "!#$&'()*+,/:;=?@-._~"
"""Every character WeChat accepts in a mini-program scene value."""

CODE_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
"""The subset new codes use: base62 needs no percent-encoding in a URL path."""

MAX_CODE_LENGTH = 32
CODE_RANDOM_BITS = 128
# 62**22 > 2**128, so every 128-bit number fits in 22 base62 digits.
CODE_LENGTH = 22

_SCENE_CHARS = frozenset(SCENE_ALPHABET)


def new_code() -> str:
    """Return a fresh 22-character base62 code carrying 128 random bits."""
    number = secrets.randbits(CODE_RANDOM_BITS)
    digits = []
    for _ in range(CODE_LENGTH):
        number, remainder = divmod(number, 62)
        digits.append(CODE_ALPHABET[remainder])
    return "".join(reversed(digits))


def is_valid_code(s: object) -> bool:
    """Tell whether `s` could be a code: 1 to 32 characters, all from the scene alphabet."""
    return isinstance(s, str) and 0 < len(s) <= MAX_CODE_LENGTH and _SCENE_CHARS.issuperset(s)
