"""The URL a building's QR code encodes, and reading the code back from it."""

from urllib.parse import parse_qs, quote, unquote, urlsplit

from qr.codes import is_valid_code

# How many layers of URL-encoding code_from_url peels off a WeChat `q` value.
_MAX_UNWRAP = 3


def building_url(public_base_url: str, code: str) -> str:
    """Return `<base>/b/<code>`, percent-encoding every character of the code outside RFC 3986's unreserved set."""
    return f"{public_base_url.rstrip('/')}/b/{quote(code, safe='')}"


def code_from_url(url: str) -> str | None:
    """Return the code of a `.../b/<code>` URL, or None when `url` holds no valid code.

    Also accepts what the mini-program receives when WeChat opens it from a scanned
    plain-link QR: the URL-encoded URL itself, or a URL whose `q` parameter is that value.
    """
    for _ in range(_MAX_UNWRAP + 1):
        if not isinstance(url, str):
            return None
        url = url.strip()
        if "://" not in url and url.lower().startswith(("http%", "https%")):
            url = unquote(url)
            continue
        parts = urlsplit(url)
        code = _code_from_path(parts.path)
        if code is not None:
            return code
        wrapped = parse_qs(parts.query).get("q")
        if not wrapped:
            return None
        url = wrapped[0]
    return None


def _code_from_path(path: str) -> str | None:
    segments = path.split("/")
    if segments and segments[-1] == "":
        segments.pop()
    if len(segments) < 2 or segments[-2] != "b":
        return None
    code = unquote(segments[-1])
    return code if is_valid_code(code) else None
