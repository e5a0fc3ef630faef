"""DesInventar XML read by worker processes, started before the file is hashed: the
same store as a read in one process."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

import riskatlas
from conftest import shared
from riskatlas import importer
from riskatlas.sources import desinventar_xml as dx
from riskatlas.sources.desinventar_xml import reader, workers
from riskatlas.sources.registry import ReadOptions

GRD = "desinventar/grd/DI_export_grd.zip"
TABLES = {
    "records": "SELECT native_key, deaths, houses_destroyed, hazard_term, start_date, raw "
               "FROM records ORDER BY native_key",
    "extension": "SELECT count(extension), count(DISTINCT extension) FROM records_full",
    "issues": "SELECT count(*) FROM quality_issues",
    "units": "SELECT count(*) FROM admin_units",
}


@pytest.fixture(scope="module")
def grd_xml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Grenada export as a plain ``.xml`` (the workers read their chunks from it)."""
    with zipfile.ZipFile(shared(GRD)) as archive:
        member = max((i for i in archive.infolist() if i.filename.lower().endswith(".xml")),
                     key=lambda i: i.file_size)
        path = tmp_path_factory.mktemp("grd") / "DI_export_grd.xml"
        path.write_bytes(archive.read(member))
    return path


def _store(path: Path, db: Path, workers: int) -> tuple[dict[str, list[tuple]], str]:
    with riskatlas.open(db) as atlas:
        [result] = atlas.import_paths([path], options=ReadOptions(workers=workers))
        assert result.records_read == result.records_imported + result.records_quarantined
        tables = {name: atlas.store.query(sql) for name, sql in TABLES.items()}
        [again] = atlas.import_paths([path], options=ReadOptions(workers=workers))
    return tables, again.status


def test_workers_started_early_give_the_same_store(grd_xml: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    serial, _ = _store(grd_xml, tmp_path / "serial.duckdb", workers=1)
    assert serial["records"] and serial["extension"][0][0] > 0

    seen: list[bool] = []
    hash_file = importer.sha256_of

    def hashing(path: Path) -> str:  # is the pool already there while the file is hashed?
        seen.append(dx.early_pool() is not None)
        return hash_file(path)

    monkeypatch.setattr(workers, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(reader, "CARD_CHUNK_BYTES", 64 * 1024)  # several chunks per section
    monkeypatch.setattr(importer, "sha256_of", hashing)
    pools: list[int] = []
    new_pool = dx.new_pool
    monkeypatch.setattr(workers, "new_pool", lambda n: pools.append(n) or new_pool(n))
    parallel, status = _store(grd_xml, tmp_path / "parallel.duckdb", workers=2)
    assert seen == [True, True]  # the first import and the unchanged second one
    assert pools == [2, 2]  # the read used the early pool: it started no other
    assert parallel == serial
    assert status == "unchanged"
    assert dx.early_pools() == 0  # the pool was taken by the read, or stopped when unused


def test_no_early_workers_for_small_files_or_one_worker(grd_xml: Path) -> None:
    with dx.start_workers([grd_xml], ReadOptions(workers=2)):
        assert dx.early_pools() == 0  # below PARALLEL_MIN_BYTES
    with dx.start_workers([grd_xml], ReadOptions(workers=1)):
        assert dx.early_pools() == 0
