"""The console's two-step import: an uploaded file is kept, previewed, then applied as previewed.

`stage_upload` keeps the file under IMPORT_UPLOAD_DIR with a random token and its SHA-256, and
previews it (webapp.registry.importer.preview_registry: the bad rows, or what each sheet would
create, update and leave, written nowhere). `apply_staged` applies exactly that: the stored file
must still hash to the digest the preview page carried, and the import must count the very
changes the preview showed (the database may have moved on in between: then nothing is written
and the new preview is shown instead). Both steps are in the audit trail. Files older than a
day are removed by the next upload.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from webapp.audit.trail import Action, record
from webapp.errors import Conflict, Invalid, NotFound
from webapp.registry.importer.apply import import_registry, preview_registry
from webapp.registry.importer.read import read_registry_file
from webapp.registry.importer.validate import ImportReport

SUFFIXES = (".xlsx", ".zip")
KEEP_SECONDS = 24 * 3600
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True)
class Staged:
    token: str
    filename: str
    sha256: str
    report: ImportReport


def _folder() -> Path:
    folder = Path(current_app.config["IMPORT_UPLOAD_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def report_summary(report: ImportReport) -> dict:
    """What a preview showed, as plain values: compared with the apply's, kept in the trail."""
    return {
        "counts": {
            sheet: {
                "created": c.created, "updated": c.updated, "unchanged": c.unchanged,
                "created_keys": list(c.created_keys), "updated_keys": list(c.updated_keys),
            }
            for sheet, c in report.counts.items()
        },
        "errors": [str(e) for e in report.errors],
    }


def _short(summary: dict) -> dict:
    return {sheet: {k: v for k, v in c.items() if not k.endswith("_keys")} for sheet, c in summary["counts"].items()}


def _purge_old(folder: Path) -> None:
    cutoff = time.time() - KEEP_SECONDS
    for path in folder.iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def stage_upload(data: bytes, filename: str, *, actor_id: str, address: str | None = None) -> Staged:
    """Keep an uploaded .xlsx (or zip of CSVs) and preview it; audited (import_previewed).

    Raises Invalid for another kind of file or one that cannot be read.
    """
    suffix = Path(filename or "").suffix.lower()
    if suffix not in SUFFIXES:
        raise Invalid("请上传 XLSX 文件（或 CSV 文件打成的压缩包）", code="import_file_type")
    if not data:
        raise Invalid("上传的文件是空的", code="import_empty")
    folder = _folder()
    _purge_old(folder)
    token = secrets.token_urlsafe(18)
    path = folder / f"{token}{suffix}"
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    try:
        report = preview_registry(read_registry_file(path))
    except Invalid:
        path.unlink(missing_ok=True)
        raise
    summary = report_summary(report)
    (folder / f"{token}.json").write_text(
        json.dumps({"filename": filename, "suffix": suffix, "sha256": digest, "summary": summary,
                    "actor_id": actor_id}, ensure_ascii=False),
        encoding="utf-8",
    )
    record(Action.IMPORT_PREVIEWED, actor_id=actor_id, address=address, target_type="import", target_id=token,
           detail={"file": filename[:120], "sha256": digest, "counts": _short(summary),
                   "errors": len(report.errors)})
    return Staged(token, filename, digest, report)


def _load(token: str) -> tuple[dict, Path]:
    if not _TOKEN.fullmatch(token or ""):
        raise NotFound("未找到该导入预览，请重新上传", code="import_not_found")
    folder = _folder()
    meta_path = folder / f"{token}.json"
    if not meta_path.is_file():
        raise NotFound("该导入预览已过期或已执行，请重新上传", code="import_not_found")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    return meta, folder / f"{token}{meta['suffix']}"


def discard(token: str) -> None:
    meta, path = _load(token)
    path.unlink(missing_ok=True)
    path.with_suffix(".json").unlink(missing_ok=True)


def apply_staged(token: str, sha256: str, *, actor_id: str, address: str | None = None) -> ImportReport:
    """Apply the file previewed under `token`, exactly as previewed; audited (import_applied).

    Raises NotFound (no such preview), Conflict when the file is not the one previewed (its
    digest differs from `sha256`) or when the import would now change something else than the
    preview showed (nothing is written: preview again), Invalid when the preview had bad rows.
    The caller commits (or rolls back on an error).
    """
    meta, path = _load(token)
    data = path.read_bytes() if path.is_file() else b""
    digest = hashlib.sha256(data).hexdigest()
    if not data or digest != meta["sha256"] or digest != (sha256 or ""):
        raise Conflict("导入文件与预览时不一致，未导入。请重新上传并预览。", code="import_changed")
    if meta["summary"]["errors"]:
        raise Invalid("预览中有错误行，不能导入。请修改文件后重新上传。", code="import_has_errors")
    report = import_registry(read_registry_file(path))
    if report_summary(report) != meta["summary"]:
        raise Conflict("预览之后数据已有变化，本次导入未执行。请重新上传并预览。", code="import_stale")
    record(Action.IMPORT_APPLIED, actor_id=actor_id, address=address, target_type="import", target_id=token,
           detail={"file": meta["filename"][:120], "sha256": digest, "counts": _short(meta["summary"])})
    path.unlink(missing_ok=True)
    path.with_suffix(".json").unlink(missing_ok=True)
    return report
