"""WeChat's verification files, served ahead of the building page.

WeChat saves a "scan a plain link to open the mini-program" rule (普通链接二维码, rule
`https://<host>/b/`) only after it has fetched a file it hands out, `<random>.txt`, from the
rule's last folder (`/b/<random>.txt`) or from the site's root (`/<random>.txt`); the business
domain (业务域名) check asks for the same at the root. Every `*.txt` in the folder named by
WECHAT_VERIFY_DIR is served at both places as plain text. A `.` is a legal character of a
building's code, so `/b/<x>.txt` stays a building's page when no such file exists.
"""
from __future__ import annotations

import re
from pathlib import Path

from flask import current_app, send_file

from webapp.errors import NotFound
from webapp.h5 import bp

# WeChat's file names are letters and digits; nothing else may reach the file system.
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
SUFFIX = ".txt"


def verification_file(name: str) -> Path | None:
    """The file `<name>.txt` of WECHAT_VERIFY_DIR, if the setting and the file exist."""
    folder = current_app.config.get("WECHAT_VERIFY_DIR") or ""
    if not folder or not _NAME.fullmatch(name):
        return None
    path = Path(folder) / f"{name}{SUFFIX}"
    return path if path.is_file() else None


def send_verification_file(path: Path):
    return send_file(path, mimetype="text/plain", max_age=0)


@bp.get(f"/<string:name>{SUFFIX}")
def verification_at_root(name: str):
    """`/<name>.txt`: a verification file, or 404."""
    path = verification_file(name)
    if path is None:
        raise NotFound()
    return send_verification_file(path)
