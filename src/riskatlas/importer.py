"""Import files into the store: detect each file's format, group multi-part datasets,
skip files already imported, and commit each dataset atomically."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from riskatlas.errors import SourceFormatError
from riskatlas.model.quality import QualityPolicy
from riskatlas.sources.headers import ColumnReport, parse_overrides
from riskatlas.sources.library_warnings import warnings_as_notes
from riskatlas.sources.limits import check_zip
from riskatlas.sources.registry import UNMAPPED_COLUMNS_NOTE, Reader, ReadOptions, detect, inspect
from riskatlas.store.batch import FileStats, OnCommit
from riskatlas.store.store import Store

# the Python API of importing: import_paths, and what the views use besides (riskatlas
# import --inspect, --column and its progress bar)
__all__ = ["ColumnReport", "FileResult", "ImportSummary", "ReadOptions", "check_zip", "expand",
           "import_paths", "inspect", "parse_overrides", "summarise"]

log = logging.getLogger(__name__)
_SKIP_SUFFIXES = {".shp", ".shx", ".dbf", ".prj", ".cpg", ".md", ".txt", ".sha256", ".part"}


@dataclass
class FileResult:
    """What happened to one input file (the JSON line of ``riskatlas import --json``)."""

    path: str
    dataset_id: int | None
    format: str
    records_read: int = 0
    records_imported: int = 0
    records_quarantined: int = 0
    fields_flagged: int = 0  # values not taken as read: see ``riskatlas quality``
    unmapped_hazards: list[str] = field(default_factory=list)
    status: str = "imported"  # imported | unchanged | skipped
    notes: list[dict[str, Any]] = field(default_factory=list)
    unmapped_columns: list[str] = field(default_factory=list)  # read as no field (raw only)
    # fields reconciliation: fields read = fields accepted + fields flagged
    fields_read: int = 0  # fields of the imported records that the source gave
    fields_accepted: int = 0  # stored as read

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ImportSummary:
    """One dataset's import (or one skipped file), its files' counts summed: one line of
    ``riskatlas import``, then its notes, each once."""

    paths: list[str]
    dataset_id: int | None
    status: str  # imported | unchanged | skipped
    records_read: int = 0
    records_imported: int = 0
    records_quarantined: int = 0
    fields_flagged: int = 0
    notes: list[dict[str, Any]] = field(default_factory=list)


def summarise(results: Sequence[FileResult]) -> list[ImportSummary]:
    """The results of :func:`import_paths` by dataset and status, in their order; a
    dataset's notes (which every file's result repeats) once each."""
    summaries: dict[tuple[int | None, str, int], ImportSummary] = {}
    for n, result in enumerate(results):
        # files of one dataset imported together share it; skipped files stay apart
        key = (result.dataset_id, result.status, n if result.dataset_id is None else -1)
        summary = summaries.setdefault(key, ImportSummary([], result.dataset_id,
                                                          result.status))
        summary.paths.append(result.path)
        summary.records_read += result.records_read
        summary.records_imported += result.records_imported
        summary.records_quarantined += result.records_quarantined
        summary.fields_flagged += result.fields_flagged
        for note in result.notes:
            if note not in summary.notes:
                summary.notes.append(note)
    return list(summaries.values())


def expand(paths: Sequence[Path]) -> list[Path]:
    """Files named, with folders replaced by the files they hold (sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in sorted(path.iterdir())
                         if p.is_file() and p.suffix.lower() not in _SKIP_SUFFIXES
                         and not p.name.startswith("."))
        else:
            files.append(path)
    return files


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def plan(paths: Sequence[Path], forced: str | None
         ) -> tuple[list[tuple[Reader, list[Path]]], list[Path]]:
    """Group files into datasets (same reader and family: multi-part exports). Files found in
    a folder that no reader recognises are returned apart; a named file must be readable."""
    groups: dict[tuple[str, str], tuple[Reader, list[Path]]] = {}
    skipped: list[Path] = []
    named = {Path(p) for p in paths}
    for path in expand(paths):
        try:
            reader = detect(path, forced)
        except SourceFormatError:
            if path in named:
                raise
            skipped.append(path)
            continue
        key = (reader.format, reader.family(path))
        groups.setdefault(key, (reader, []))[1].append(path)
    return list(groups.values()), skipped


def import_paths(store: Store, paths: Sequence[Path], *, format: str | None = None,
                 options: ReadOptions | None = None,
                 on_commit: OnCommit | None = None) -> list[FileResult]:
    """Import files; one result per file, in the order of the datasets. ``on_commit`` is
    called in each dataset's commit transaction (its rows commit with the dataset's)."""
    options = options or ReadOptions()
    format = format or ("mapped" if options.mapping else None)
    results: list[FileResult] = []
    groups, skipped = plan([Path(p) for p in paths], format)
    for path in skipped:
        results.append(FileResult(str(path), None, "", status="skipped",
                                  notes=[{"key": "import.skipped_unknown", "path": path.name}]))
    for reader, files in groups:
        with (reader.prepare(files, options) if reader.prepare
              else contextlib.nullcontext()):
            hashes = {f: sha256_of(f) for f in files}
            known = {f: store.dataset_of_file(h) for f, h in hashes.items()}
            new = [f for f in files if known[f] is None]
            for f in files:
                if known[f] is not None:
                    options.advance(f.stat().st_size)
                    results.append(FileResult(str(f), known[f], reader.format,
                                              status="unchanged"))
            if new:
                results.extend(_import_group(store, reader, new, hashes, options, on_commit))
    return results


def _import_group(store: Store, reader: Reader, files: list[Path], hashes: dict[Path, str],
                  options: ReadOptions, on_commit: OnCommit | None = None
                  ) -> list[FileResult]:
    first = files[0]
    name = first.name if len(files) == 1 else f"{first.name} (+{len(files) - 1} files)"
    with store.import_batch(source_key=reader.source_key(first, options), name=name,
                            format=reader.format, country_iso3=options.country,
                            disambiguate_keys=reader.disambiguate_keys,
                            synthetic=options.synthetic,
                            policy=QualityPolicy(strict=options.strict),
                            review=options.review, on_commit=on_commit) as batch:
        for f in files:
            batch.add_file(FileStats(f.name, str(f.resolve()), hashes[f], f.stat().st_size,
                                     reader.format))
            log.debug("reading %s as %s", f, reader.format)
            with warnings_as_notes(batch.note, f.name):
                reader.read(f, batch, options)
        outcome = batch.commit()
    notes = [n for n in outcome.notes if n["key"] != UNMAPPED_COLUMNS_NOTE]
    unmapped = {n["path"]: list(n["columns"]) for n in outcome.notes
                if n["key"] == UNMAPPED_COLUMNS_NOTE}
    return [FileResult(str(f), outcome.dataset_id, reader.format, stats.read, stats.imported,
                       stats.quarantined, stats.flagged, outcome.unmapped_terms,
                       notes=notes, unmapped_columns=unmapped.get(f.name, []),
                       fields_read=stats.fields_read, fields_accepted=stats.fields_accepted)
            for f, stats in zip(files, outcome.files, strict=True)]
