"""Downloads against a local HTTP server on 127.0.0.1: resume, checksums, errors, cache."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from conftest import shared
from httpserver import FileServer
from riskatlas.download import DESINVENTAR_URL, desinventar_url, download
from riskatlas.errors import FetchError

GRD_ZIP = "desinventar/grd/DI_export_grd.zip"  # in ../shared/data (conftest.shared)


@pytest.fixture(scope="module")
def grd() -> bytes:
    return shared(GRD_ZIP).read_bytes()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def part_of(dest: Path) -> Path:
    return dest.with_suffix(dest.suffix + ".part")


def write_part(dest: Path, content: bytes, url: str, etag: str, size: int) -> None:
    part_of(dest).write_bytes(content)
    meta = {"url": url, "etag": etag, "last_modified": None, "size": size}
    part_of(dest).with_suffix(".part.json").write_text(json.dumps(meta))


def test_desinventar_url() -> None:
    assert desinventar_url("GRD") == DESINVENTAR_URL.format(iso3="grd")
    assert desinventar_url("grd").endswith("/DesInventar/download/DI_export_grd.zip")
    base = "http://127.0.0.1:8765/DesInventar/download/"
    assert desinventar_url("Grd", base) == base + "DI_export_grd.zip"
    for bad in ("GR", "GRDX", "G1D", ""):
        with pytest.raises(ValueError):
            desinventar_url(bad)


@pytest.mark.shared_data
def test_full_download(grd: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "DI_export_grd.zip"
    with FileServer(grd) as srv:
        result = download(desinventar_url("GRD", srv.base_url), dest)
    assert dest.read_bytes() == grd
    assert result.sha256 == sha(grd) and result.size == len(grd)
    assert not result.resumed and not result.from_cache
    assert dest.with_suffix(".sha256").read_text().split()[0] == sha(grd)
    assert not part_of(dest).exists() and not part_of(dest).with_suffix(".part.json").exists()
    assert [r.path for r in srv.requests] == ["/DesInventar/download/DI_export_grd.zip"]


@pytest.mark.shared_data
def test_resume_with_range(grd: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "DI_export_grd.zip"
    with FileServer(grd) as srv:
        url = desinventar_url("grd", srv.base_url)
        write_part(dest, grd[:100_000], url, srv.etag, len(grd))
        result = download(url, dest, expected_sha256=sha(grd))
    assert srv.requests[0].range == "bytes=100000-" and srv.requests[0].if_range == srv.etag
    assert result.resumed and dest.read_bytes() == grd and result.sha256 == sha(grd)


@pytest.mark.shared_data
def test_complete_part_answered_416(grd: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "DI_export_grd.zip"
    with FileServer(grd) as srv:
        url = desinventar_url("grd", srv.base_url)
        write_part(dest, grd, url, srv.etag, len(grd))
        result = download(url, dest)
    assert srv.requests[0].range == f"bytes={len(grd)}-"
    assert result.resumed and dest.read_bytes() == grd


@pytest.mark.shared_data
@pytest.mark.parametrize("ranges", [False, True], ids=["no-range-support", "changed-etag"])
def test_restart_when_range_not_honoured(grd: bytes, tmp_path: Path, ranges: bool) -> None:
    dest = tmp_path / "DI_export_grd.zip"
    with FileServer(grd, ranges=ranges) as srv:
        url = desinventar_url("grd", srv.base_url)
        write_part(dest, b"x" * 100_000, url, '"old"', len(grd))  # stale bytes
        result = download(url, dest)
    assert srv.requests[0].range == "bytes=100000-"
    assert not result.resumed and dest.read_bytes() == grd and result.sha256 == sha(grd)


@pytest.mark.shared_data
def test_interrupted_then_resumed(grd: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "DI_export_grd.zip"
    with FileServer(grd, cut_after=200_000) as srv:
        url = desinventar_url("grd", srv.base_url)
        with pytest.raises(FetchError) as info:
            download(url, dest)
        assert info.value.key == "fetch.network" and info.value.params["url"] == url
        assert not dest.exists()
        got = part_of(dest).stat().st_size
        assert 0 < got <= 200_000
        result = download(url, dest)
    assert srv.requests[1].range == f"bytes={got}-"
    assert result.resumed and dest.read_bytes() == grd and result.sha256 == sha(grd)


@pytest.mark.shared_data
def test_checksum_mismatch(grd: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "DI_export_grd.zip"
    with FileServer(grd) as srv, pytest.raises(FetchError) as info:
        download(desinventar_url("grd", srv.base_url), dest, expected_sha256="0" * 64)
    assert info.value.key == "fetch.checksum"
    assert info.value.params == {"path": str(dest), "expected": "0" * 64, "actual": sha(grd)}
    assert isinstance(info.value, OSError)
    assert not dest.exists() and not part_of(dest).exists()


def test_html_error_page_is_not_zip(tmp_path: Path) -> None:
    dest = tmp_path / "DI_export_grd.zip"
    page = b"<!DOCTYPE html><html><body>Server error</body></html>"
    with FileServer(page, content_type="text/html") as srv, pytest.raises(FetchError) as info:
        download(desinventar_url("grd", srv.base_url), dest)
    assert info.value.key == "fetch.not_zip" and info.value.params == {"path": str(dest)}
    assert not dest.exists() and not part_of(dest).exists()


def test_http_404(tmp_path: Path) -> None:
    dest = tmp_path / "DI_export_xyz.zip"
    with FileServer(b"", status=404) as srv, pytest.raises(FetchError) as info:
        download(desinventar_url("xyz", srv.base_url), dest)
    assert info.value.key == "fetch.http_status"
    assert info.value.params == {"url": desinventar_url("xyz", srv.base_url), "status": 404}
    assert not dest.exists()


def test_network_error(tmp_path: Path) -> None:
    with FileServer(b"") as srv:
        url = desinventar_url("grd", srv.base_url)
    with pytest.raises(FetchError) as info:  # the server is gone: connection refused
        download(url, tmp_path / "DI_export_grd.zip", timeout=5)
    assert info.value.key == "fetch.network" and info.value.params["reason"]


@pytest.mark.shared_data
def test_cache_hit_makes_no_request(grd: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "DI_export_grd.zip"
    shutil.copyfile(shared(GRD_ZIP), dest)
    with FileServer(grd) as srv:
        url = desinventar_url("grd", srv.base_url)
        plain = download(url, dest)
        checked = download(url, dest, expected_sha256=sha(grd).upper())
    assert srv.requests == []
    assert plain.from_cache and checked.from_cache and checked.sha256 == sha(grd)


@pytest.mark.shared_data
def test_cached_file_with_wrong_hash_is_fetched_again(grd: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "DI_export_grd.zip"
    dest.write_bytes(b"old")
    with FileServer(grd) as srv:
        result = download(desinventar_url("grd", srv.base_url), dest, expected_sha256=sha(grd))
    assert len(srv.requests) == 1 and not result.from_cache and dest.read_bytes() == grd


@pytest.mark.shared_data
def test_progress_callback(grd: bytes, tmp_path: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    with FileServer(grd) as srv:
        download(
            desinventar_url("grd", srv.base_url),
            tmp_path / "DI_export_grd.zip",
            progress=lambda done, total: calls.append((done, total)),
        )
    done = [d for d, _ in calls]
    assert len(calls) > 1 and done == sorted(set(done)) and done[-1] == len(grd)
    assert {t for _, t in calls} == {len(grd)}
