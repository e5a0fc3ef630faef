"""Resumable, checksummed, atomic downloads (``riskatlas fetch desinventar ISO3``).

A file is streamed to ``<dest>.part`` next to a ``<dest>.part.json`` sidecar holding the
URL and the server's validators (ETag, Last-Modified, size). An interrupted download is
resumed with ``Range`` + ``If-Range``, so a file changed on the server restarts from zero
instead of being spliced. Only a verified file (checksum, valid zip) is renamed to
``dest``; its SHA-256 is written to ``dest.with_suffix(".sha256")``. Library code stays
silent: progress goes to a callback.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from riskatlas.errors import FetchError

DESINVENTAR_URL = "https://www.desinventar.net/DesInventar/download/DI_export_{iso3}.zip"
CHUNK_SIZE = 64 * 1024

Progress = Callable[[int, int | None], None]


def desinventar_url(iso3: str, base_url: str | None = None) -> str:
    """The URL of a country's DesInventar export; ``base_url`` replaces the directory part."""
    if not isinstance(iso3, str) or not re.fullmatch(r"[A-Za-z]{3}", iso3):
        raise ValueError(f"not an ISO 3166 alpha-3 country code: {iso3!r}")
    code = iso3.lower()
    if base_url is None:
        return DESINVENTAR_URL.format(iso3=code)
    return f"{base_url.rstrip('/')}/DI_export_{code}.zip"


@dataclass(frozen=True)
class Download:
    """The result of :func:`download`."""

    path: Path
    url: str
    sha256: str
    size: int
    resumed: bool
    from_cache: bool


def download(
    url: str,
    dest: Path,
    *,
    expected_sha256: str | None = None,
    progress: Progress | None = None,
    timeout: float = 60.0,
    client: httpx.Client | None = None,
) -> Download:
    """Download ``url`` to ``dest``, resuming a partial download and verifying the result.

    An existing ``dest`` whose hash matches ``expected_sha256`` (or any existing ``dest``
    when no hash is given) is returned without network access. Raises :class:`FetchError`
    (``fetch.http_status``, ``fetch.network``, ``fetch.checksum``, ``fetch.not_zip``).
    """
    dest = Path(dest)
    expected = expected_sha256.strip().lower() if expected_sha256 else None
    if dest.is_file():
        hasher, size = _hash_file(dest)
        digest = hasher.hexdigest()
        if expected is None or digest == expected:
            return Download(dest, url, digest, size, resumed=False, from_cache=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(dest.suffix + ".part")
    meta = part.with_suffix(part.suffix + ".json")

    own_client = client is None
    http = client if client is not None else httpx.Client()
    try:
        digest, size, resumed = _stream(http, url, part, meta, progress, timeout)
    except httpx.HTTPError as exc:
        raise FetchError("fetch.network", url=url, reason=str(exc) or type(exc).__name__) from exc
    finally:
        if own_client:
            http.close()

    if expected is not None and digest != expected:
        _discard(part, meta)
        raise FetchError("fetch.checksum", path=str(dest), expected=expected, actual=digest)
    if not zipfile.is_zipfile(part):
        _discard(part, meta)
        raise FetchError("fetch.not_zip", path=str(dest))
    os.replace(part, dest)
    meta.unlink(missing_ok=True)
    dest.with_suffix(".sha256").write_text(f"{digest}  {dest.name}\n", encoding="utf-8")
    return Download(dest, url, digest, size, resumed=resumed, from_cache=False)


def _stream(
    client: httpx.Client,
    url: str,
    part: Path,
    meta: Path,
    progress: Progress | None,
    timeout: float,
) -> tuple[str, int, bool]:
    """Stream ``url`` into ``part``, resuming if possible; return (sha256, size, resumed)."""
    for _ in range(2):  # the second pass only follows a discarded, unusable part
        saved = _read_meta(meta, url) if part.is_file() else None
        offset = part.stat().st_size if saved is not None else 0
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            etag = saved.get("etag") if saved else None
            validator = etag if etag and not etag.startswith("W/") else None
            validator = validator or (saved.get("last_modified") if saved else None)
            if validator:
                headers["If-Range"] = validator
        with client.stream(
            "GET", url, headers=headers, timeout=timeout, follow_redirects=True
        ) as response:
            status = response.status_code
            start, total = _content_range(response.headers.get("content-range"))
            if status == 416 and offset and (total or (saved or {}).get("size")) == offset:
                hasher, size = _hash_file(part)  # the part is already complete
                return hasher.hexdigest(), size, True
            if status == 206 and offset and start == offset:
                mode, resumed = "ab", True
            elif status == 200:
                mode, resumed, offset = "wb", False, 0
                length = response.headers.get("content-length")
                total = int(length) if length and length.isdigit() else None
            elif status in (206, 416) and offset:
                _discard(part, meta)
                continue
            else:
                raise FetchError("fetch.http_status", url=url, status=status)

            prev = saved if resumed and saved else {}
            info = {
                "url": url,
                "etag": response.headers.get("etag") or prev.get("etag"),
                "last_modified": response.headers.get("last-modified") or prev.get("last_modified"),
                "size": total,
            }
            meta.write_text(json.dumps(info), encoding="utf-8")
            hasher = _hash_file(part)[0] if resumed else hashlib.sha256()
            done = offset
            with part.open(mode) as fh:
                for chunk in response.iter_bytes(CHUNK_SIZE):
                    fh.write(chunk)
                    hasher.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
            if total is not None and done != total:
                raise FetchError("fetch.network", url=url, reason=f"got {done} of {total} bytes")
            return hasher.hexdigest(), done, resumed
    raise FetchError("fetch.network", url=url, reason="the server did not honour Range")


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, complete length) of a ``Content-Range`` header; None where absent."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if not match:
        return None, None
    first, length = match.groups()
    return (int(first) if first else None), (int(length) if length != "*" else None)


def _read_meta(meta: Path, url: str) -> dict[str, Any] | None:
    """The sidecar of a partial download of ``url``, or None if absent, unreadable or stale."""
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("url") == url else None


def _discard(part: Path, meta: Path) -> None:
    """Delete a partial download and its sidecar."""
    part.unlink(missing_ok=True)
    meta.unlink(missing_ok=True)


def _hash_file(path: Path) -> tuple[hashlib._Hash, int]:
    """The running SHA-256 of a file's bytes, and its size."""
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            hasher.update(chunk)
            size += len(chunk)
    return hasher, size
