"""The Python API. The CLI and the web app are thin views over :class:`Atlas`."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskatlas.importer import FileResult, import_paths
from riskatlas.model.hazards import reporting_groups
from riskatlas.population import import_population
from riskatlas.sources.registry import ReadOptions
from riskatlas.store.store import Store

if TYPE_CHECKING:  # Ibis and pandas load on first query, not for an import
    import pandas as pd


class Atlas:
    """A RiskAtlas store with its operations. ``riskatlas.open(path)`` makes one."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> Atlas:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    def import_paths(self, paths: Sequence[str | Path], *, format: str | None = None,
                     options: ReadOptions | None = None) -> builtins.list[FileResult]:
        """Import files or folders; see :func:`riskatlas.importer.import_paths`."""
        return import_paths(self.store, [Path(p) for p in paths], format=format,
                            options=options)

    def table(self, name: str) -> Any:
        """An Ibis table of the store (records, datasets, admin_units, ...)."""
        return self.store.table(name)

    def datasets(self) -> pd.DataFrame:
        """Every import with its provenance and reconciliation counts."""
        return self.table("datasets").order_by("dataset_id").to_pandas()

    def dataset_files(self, dataset_id: int | None = None) -> pd.DataFrame:
        files = self.table("dataset_files")
        if dataset_id is not None:
            files = files.filter(files.dataset_id == dataset_id)
        return files.to_pandas()

    def quarantine(self, dataset_id: int | None = None) -> pd.DataFrame:
        """Rows set aside, with their reason and raw values."""
        rows = self.table("quarantine")
        if dataset_id is not None:
            rows = rows.filter(rows.dataset_id == dataset_id)
        return rows.to_pandas()

    def hazard_terms(self, *, unmapped: bool = False) -> pd.DataFrame:
        """Source hazard terms with their HIPs code and group; ``unmapped`` = the review list."""
        import ibis

        terms = self.table("hazard_terms")
        if unmapped:
            terms = terms.filter(terms.hazard_group.isnull())
        terms = terms.group_by(["term", "hips_code", "hazard_group"]).aggregate(
            term_en=terms.term_en.max(), records=terms.records.sum(),
            datasets=terms.dataset_id.nunique())
        return terms.order_by([ibis.desc("records"), "term"]).to_pandas()

    def records(self, *, limit: int | None = 50, offset: int = 0, columns: Sequence[str] = (),
                with_extension: bool = False, **filters: Any) -> pd.DataFrame:
        """Records matching the filters (country, admin, hazard, year_from, year_to, dataset);
        ``with_extension`` adds each record's extension block."""
        expr = _filtered(self.table("records_full" if with_extension else "records"), **filters)
        expr = expr.order_by(["start_date", "record_id"])
        if columns:
            expr = expr.select(*columns)
        if limit is not None:
            expr = expr.limit(limit, offset=offset)
        return expr.to_pandas()

    def count_records(self, **filters: Any) -> int:
        return int(_filtered(self.table("records"), **filters).count().to_pandas())

    def export(self, path: str | Path, fmt: str, *, lang: str = "en", with_raw: bool = False,
               **filters: Any) -> int:
        """Write the filtered records with labels; returns the number of rows written."""
        from riskatlas.export import labelled, write

        frame = labelled(self.records(limit=None, with_extension=with_raw, **filters), lang,
                         with_raw=with_raw)
        units = self.table("admin_units").filter(lambda u: u.centroid_lon.notnull())
        centroids = {r.code: (r.centroid_lon, r.centroid_lat)
                     for r in units.select("code", "centroid_lon", "centroid_lat")
                     .to_pandas().itertuples()}
        return write(frame, Path(path), fmt, centroids)

    def import_population(self, path: str | Path) -> int:
        """Load population (and households) by admin unit and year from a CSV file with
        columns country_iso3, level, admin_code, year, population[, households, source]."""
        return import_population(self.store, Path(path))

    def hazard_summary(self, *, lang: str = "en", **filters: Any) -> pd.DataFrame:
        """Records and deaths per reporting group with their shares (%), for a quick look."""
        import ibis

        r = _filtered(self.table("records"), **filters)
        by = r.group_by(group=r.hazard_group.fill_null("(unmapped)")).aggregate(
            records=r.count(), deaths=r.deaths.sum().fill_null(0),
            houses_destroyed=r.houses_destroyed.sum().fill_null(0))
        total = by.aggregate(tr=by.records.sum(), td=by.deaths.sum())
        out = by.cross_join(total).mutate(
            records_pct=(by.records * 100.0 / total.tr).round(1),
            deaths_pct=ibis.ifelse(total.td > 0, by.deaths * 100.0 / total.td, 0.0).round(1))
        frame = out.drop("tr", "td").order_by(ibis.desc("records")).to_pandas()
        groups = reporting_groups()
        frame.insert(1, "name", frame["group"].map(
            lambda g: groups[g].name(lang) if g in groups else g))
        return frame


def open(path: str | Path | None = None, *, read_only: bool = False,
         crosswalks: Sequence[Path] = ()) -> Atlas:
    """Open (or create) a store; ``path`` defaults to $RISKATLAS_DB or ./riskatlas.duckdb."""
    return Atlas(Store(path, read_only=read_only, crosswalks=crosswalks))


def _filtered(records: Any, *, country: str | None = None, admin: str | None = None,
              hazard: str | None = None, year_from: int | None = None,
              year_to: int | None = None, dataset: int | None = None) -> Any:
    """Records filtered as the CLI and the web app allow (all parameters bound, never SQL)."""
    if country:
        records = records.filter(records.country_iso3 == country.upper())
    if admin:
        records = records.filter((records.level0_code == admin) | (records.level1_code == admin)
                                 | (records.level2_code == admin))
    if hazard:
        h = hazard.strip()
        records = records.filter((records.hazard_group == h.lower()) | (records.hips_code == h)
                                 | (records.hazard_term == h))
    if year_from is not None:
        records = records.filter(records.start_year >= year_from)
    if year_to is not None:
        records = records.filter(records.start_year <= year_to)
    if dataset is not None:
        records = records.filter(records.dataset_id == dataset)
    return records


def json_params(text: str | None) -> dict[str, Any]:
    """Reason parameters stored as JSON text."""
    import orjson

    return dict(orjson.loads(text)) if text else {}
