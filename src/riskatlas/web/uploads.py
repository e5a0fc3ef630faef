"""Files uploaded to be imported: size limit, a private temporary folder, a refusal of
XML that declares a DOCTYPE or entities (no entity is ever resolved), then the importer
that ``riskatlas import`` runs, and the same reconciliation report.

The limit is checked twice: the declared Content-Length before the body is read (a body
without one is refused: 411), and the bytes actually copied.

The uploaded cards arrive submitted (``ReadOptions.review``); the uploader becomes the
author of each (``card_authors``) and the audit log gets an "upload" row per dataset, both
in the import's own commit transaction (``on_commit``:
:func:`riskatlas.services.cards.upload_recorder`): a dataset is never stored without
them. A file already imported (unchanged) or not recognised gets an "upload" row alone.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData, UploadFile

from riskatlas.api import json_params
from riskatlas.errors import RiskAtlasError
from riskatlas.i18n import translate
from riskatlas.services import cards
from riskatlas.web.context import Viewer, WebSettings
from riskatlas.web.writer import writing

log = logging.getLogger(__name__)
_CHUNK = 1 << 20
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_XML_DANGER = (b"<!DOCTYPE", b"<!ENTITY")


class UploadError(RiskAtlasError):
    key = "workflow.upload.failed"
    http_status = 400


class TooLargeError(UploadError):
    key = "workflow.upload.too_large"
    http_status = 413


class LengthRequiredError(UploadError):
    key = "workflow.upload.length_required"
    http_status = 411


async def read_form(request: Request, settings: WebSettings) -> FormData:
    """The multipart form, refused before reading when it declares more than the limit."""
    limit = settings.max_upload_mb * 1024 * 1024
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise LengthRequiredError()
    if int(declared) > limit + 64 * 1024:  # the form's other fields and boundaries
        raise TooLargeError(mb=settings.max_upload_mb)
    return await request.form(max_files=1, max_fields=20)


def safe_name(name: str) -> str:
    base = _SAFE.sub("_", Path(name.replace("\\", "/")).name).strip("._") or "upload"
    return base[:120]


def _save(file: UploadFile, target: Path, limit: int) -> int:
    """Copy the upload; refuse one over ``limit`` bytes or an XML document with a DOCTYPE
    or an entity declaration (checked across chunk borders)."""
    size, tail, xml = 0, b"", None
    with target.open("wb") as out:
        while block := file.file.read(_CHUNK):
            size += len(block)
            if size > limit:
                raise TooLargeError(mb=limit // (1024 * 1024))
            if xml is None:
                head = block.lstrip(b"\xef\xbb\xbf \t\r\n")
                xml = head.startswith(b"<")
            if xml:
                window = tail + block
                if any(marker in window for marker in _XML_DANGER):
                    raise UploadError("workflow.upload.doctype", path=target.name)
                tail = window[-16:]
            out.write(block)
    return size


def import_upload(settings: WebSettings, viewer: Viewer, file: UploadFile, *,
                  country: str | None, fmt: str | None, lang: str) -> dict[str, Any]:
    """Save, import and report one uploaded file (the caller checked the role; the
    service checks the countries the uploader acts in)."""
    folder = Path(tempfile.mkdtemp(prefix="riskatlas-upload-"))
    try:
        path = folder / safe_name(file.filename or "upload")
        size = _save(file, path, settings.max_upload_mb * 1024 * 1024)
        with writing(settings, transaction=False) as atlas:
            results = cards.import_upload(atlas.store, viewer.name, path, size,
                                          country=country, fmt=fmt, role=viewer.role)
            files = []
            for r in results:
                item = r.as_dict()
                item["path"] = path.name
                item["message"] = _summary(r, path.name, lang)
                item["set_aside"] = []
                if r.records_quarantined and r.dataset_id is not None:
                    rows = atlas.quarantine(r.dataset_id).head(50)
                    item["set_aside"] = [
                        {"record": row.record_ref, "field": row.field,
                         "reason": translate(row.reason_key, lang, **_params(row.reason_params))}
                        for row in rows.itertuples()]
                item["flagged"] = []
                if r.fields_flagged and r.dataset_id is not None:
                    issues = atlas.quality_issues(r.dataset_id).head(50)
                    message = "message_zh" if lang == "zh-TW" else "message_en"
                    item["flagged"] = [
                        {"record": row.record_ref, "field": row.source_field,
                         "reason": getattr(row, message)} for row in issues.itertuples()]
                item["notes_text"] = [translate(n["key"], lang, **{
                    "path": path.name, **{k: v for k, v in n.items() if k != "key"}})
                    for n in r.notes]
                files.append(item)
            unmapped = sorted({t for r in results for t in r.unmapped_hazards})
        log.info("%s uploaded %s (%d bytes)", viewer.name, path.name, size)
        return {"file": path.name, "size": size, "files": files, "unmapped_hazards": unmapped,
                "unmapped_text": translate("import.unmapped", lang, terms=", ".join(unmapped))
                if unmapped else ""}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _params(value: Any) -> dict[str, Any]:
    """Reason parameters: JSON text, or already parsed (Ibis reads JSON columns as dicts)."""
    return dict(value) if isinstance(value, dict) else json_params(value)


def _summary(result: Any, name: str, lang: str) -> str:
    if result.status == "skipped":
        return translate("import.skipped_unknown", lang, path=name)
    if result.status == "unchanged":
        return translate("import.unchanged", lang, path=name, dataset=result.dataset_id)
    return translate("import.done", lang, path=name, read=result.records_read,
                     imported=result.records_imported,
                     quarantined=result.records_quarantined, dataset=result.dataset_id)
