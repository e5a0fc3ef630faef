"""The Python API. The CLI and the web app are thin views over :class:`Atlas`."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskatlas.analyses import OUTSIDE_COLUMNS, PERIOD_SCHEMA, Analyses
from riskatlas.analysis.methods import Methods, load_methods
from riskatlas.analysis.scope import Scope
from riskatlas.importer import FileResult, import_paths
from riskatlas.paths import resolve_db
from riskatlas.population import import_population
from riskatlas.sources.convert import MIN_YEAR
from riskatlas.sources.registry import ReadOptions
from riskatlas.store.opening import open_store
from riskatlas.store.store import Store

if TYPE_CHECKING:  # Ibis and pandas load on first query, not for an import
    import pandas as pd

    from riskatlas.assessment.value import Assessment

# the values the API takes (a methods profile, a store, its path) and the earliest year a
# card may carry (imports and card forms alike), for the views
__all__ = ["MIN_YEAR", "OUTSIDE_COLUMNS", "PERIOD_SCHEMA", "Atlas", "Methods", "Scope", "Store",
           "json_params", "load_methods", "open", "resolve_db"]


class Atlas(Analyses):
    """A RiskAtlas store with its operations. ``riskatlas.open(path)`` makes one.

    Its tables and analyses (profile, events, risk, sendai, screen, each over a
    :class:`Scope`) are those of :class:`riskatlas.analyses.Analyses`; an Atlas adds
    imports, exports and the assessment of a report (:mod:`riskatlas.assessment`).
    """

    def import_paths(self, paths: Sequence[str | Path], *, format: str | None = None,
                     options: ReadOptions | None = None,
                     on_commit: Any = None) -> builtins.list[FileResult]:
        """Import files or folders; see :func:`riskatlas.importer.import_paths`."""
        return import_paths(self.store, [Path(p) for p in paths], format=format,
                            options=options, on_commit=on_commit)

    def hazard_suggestions(self, *, limit: int = 3, lang: str = "en") -> pd.DataFrame:
        """The review list with, for each term, its ``limit`` closest HIPs 2025 entries
        (:func:`riskatlas.model.hazards.suggest`) in the column ``suggestions``: a list of
        {hips_code, hips_name, hazard_group, similarity, resembles, source, csv_line}, where
        ``csv_line`` is a crosswalk row that maps the term (``import --crosswalk FILE``)."""
        from riskatlas.i18n import translate
        from riskatlas.model.hazards import suggest

        frame = self.hazard_terms(unmapped=True)
        crosswalk = self.store.crosswalk
        column = []
        for term, term_en in zip(frame["term"], frame["term_en"], strict=True):
            found = suggest(crosswalk, term, term_en if isinstance(term_en, str) else None,
                            limit)
            column.append([{
                "hips_code": s.hips_code, "hips_name": s.hips_name, "hazard_group": s.group,
                "similarity": s.score, "resembles": s.resembles, "source": s.source,
                "csv_line": s.csv_line(term, translate(
                    "crosswalk.mapped_note" if s.source == "mapped" else
                    "crosswalk.suggested_note", lang, resembles=s.resembles,
                    name=s.hips_name))} for s in found])
        frame["suggestions"] = column
        return frame

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

    # --- analyses: each returns a DataFrame whose attrs name its scope and methods ---

    def assess(self, *, country: str | None = None, level: int | None = None,
               year_from: int | None = None, year_to: int | None = None, lang: str = "en",
               top: int = 5, measures: Sequence[Path] = (), cases: Sequence[Path] = (),
               datasets: Sequence[int] = (), include_unapproved: bool = False,
               scope: Scope | None = None) -> Assessment:
        """Every analysis of a report (profile, events, risk, Sendai, screen, advice, peers)
        over one scope; ``level`` None picks the level of the data's cities or districts;
        ``measures`` and ``cases`` are extra catalogue files extending the shipped ones.
        ``scope`` (a :class:`Scope`) replaces country, level, years, datasets and statuses."""
        from riskatlas.assessment.pipeline import assess

        if scope is None:
            scope = self.scope_of(country=country, level=level, year_from=year_from,
                                  year_to=year_to,
                                  dataset=tuple(sorted(set(datasets))) or None,
                                  include_unapproved=include_unapproved)
        return assess(self, scope, lang=lang, top=top, measures=measures, cases=cases)

    def peers(self, country: str, admin: str, *, level: int | None = None, k: int = 5,
              year_from: int | None = None, year_to: int | None = None,
              within: str | None = None) -> pd.DataFrame:
        """The ``k`` units of the same kind most like (country, admin) across every dataset,
        or ``within`` its "country" or M49 "region", each with what makes it close and what
        differs; ``level`` None: the shallowest level holding the code. An empty answer says
        why in ``attrs["reason"]`` (docs/methods.md, "Peers")."""
        from riskatlas.assessment.peers import unit_peers

        return unit_peers(self, country, admin, level=level, k=k, year_from=year_from,
                          year_to=year_to, within=within)

    # --- linked sources (issue 17; riskatlas.linking, riskatlas.services.links) ---

    def dataset_id(self, dataset: int | str) -> int:
        """A dataset's id from its id or source key (``EMDAT``, ``DI-NPL``)."""
        from riskatlas.errors import RiskAtlasError

        frame = self.datasets()
        text = str(dataset).strip()
        if text.isdigit() and int(text) in set(frame.dataset_id.astype(int)):
            return int(text)
        found = frame[frame.source_key.astype(str).str.upper() == text.upper()]
        if len(found) != 1:
            raise RiskAtlasError("link.unknown_dataset", dataset=text[:64])
        return int(found.dataset_id.iloc[0])

    def link(self, from_dataset: int | str, to_dataset: int | str, lang: str = "en", *,
             by: str = "cli") -> pd.DataFrame:
        """Link the events of two datasets and store the links (a link found again keeps
        its decision; :func:`riskatlas.services.links.propose`); returns the stored links
        of the two datasets in words (``why``), ``attrs["counts"]`` the proposal's counts
        and ``attrs["places_to_review"]`` the places no single unit was found for."""
        from riskatlas.linking import link_datasets
        from riskatlas.services import links

        a, b = self.dataset_id(from_dataset), self.dataset_id(to_dataset)
        found = link_datasets(self, a, b, lang=lang, settled=links.settled_places(self.store))
        counts = links.propose(self.store, a, b, self.methods, by=by, links=found)
        out = self.links(from_dataset=a, to_dataset=b, lang=lang)
        out.attrs.update({"counts": counts,
                          "places_to_review": found.attrs["places_to_review"]})
        return out

    def links(self, *, status: str | Sequence[str] | None = None,
              from_dataset: int | str | None = None, to_dataset: int | str | None = None,
              lang: str = "en") -> pd.DataFrame:
        """The stored links (proposed, possible, accepted, rejected), each with its
        features, score, decision, member record ids and its score in words (``why``)."""
        from riskatlas.services import links

        frame = links.stored_links(
            self.store, status=status,
            from_dataset=None if from_dataset is None else self.dataset_id(from_dataset),
            to_dataset=None if to_dataset is None else self.dataset_id(to_dataset))
        out = links.explained_links(frame, lang)
        out.attrs.update({"analysis": "links", **self.methods.stamp()})
        return out

    def merged_events(self, from_dataset: int | str | None = None,
                      to_dataset: int | str | None = None, *,
                      statuses: Sequence[str] = ("accepted",)) -> pd.DataFrame:
        """The merged events of linked datasets (every pair holding links in ``statuses``,
        or the pair named): one row per event and figure, with the best estimate under
        the methods profile's ``linking.best_estimate`` and the dataset it comes from."""
        import pandas as pd

        from riskatlas.assessment.linking import linked, merged
        from riskatlas.linking import LinkRules

        rule = LinkRules.of(self.methods).best_estimate
        frames = [merged(linked(self, a, b, statuses), rule)
                  for a, b in self._pairs(from_dataset, to_dataset, statuses)]
        frames = [f for f in frames if len(f)]
        out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["merged_id", "from_dataset", "to_dataset", "figure", "value", "source",
                     "source_events", "from_value", "to_value", "rule", "source_dataset"])
        out.attrs.update({"analysis": "merged_events", "rule": rule, **self.methods.stamp()})
        return out

    def completeness(self, from_dataset: int | str, to_dataset: int | str, *,
                     statuses: Sequence[str] = ("accepted",)) -> pd.DataFrame:
        """What each of two linked datasets captures of the other (links in ``statuses``),
        per country, hazard group, year and kind (intensive / extensive)."""
        from riskatlas.assessment.linking import completeness_of, linked

        sources = linked(self, self.dataset_id(from_dataset), self.dataset_id(to_dataset),
                         statuses)
        out = completeness_of(sources)
        out.attrs.update({"analysis": "completeness", "statuses": list(statuses),
                          **self.methods.stamp()})
        return out

    def _pairs(self, from_dataset: int | str | None, to_dataset: int | str | None,
               statuses: Sequence[str]) -> builtins.list[tuple[int, int]]:
        from riskatlas.services import links

        if from_dataset is not None and to_dataset is not None:
            return [(self.dataset_id(from_dataset), self.dataset_id(to_dataset))]
        return links.link_pairs(self.store, statuses)


def open(path: str | Path | None = None, *, read_only: bool = False,
         crosswalks: Sequence[Path] = (), engine: str = "duckdb",
         methods: str | Path | Methods | None = None,
         lock_wait: float | None = None, lake: str | Path | None = None) -> Atlas:
    """Open (or create) a store; ``path`` defaults to $RISKATLAS_DB or ./riskatlas.duckdb.

    ``engine`` runs the analyses on "duckdb" (default) or "spark"; ``methods`` is a YAML
    profile of thresholds and weights overriding the defaults; ``lock_wait``: seconds a
    writer waits while another process holds the store (see :class:`Store`). ``lake`` (or
    a ``path`` or $RISKATLAS_LAKE naming a lake folder) reads a Parquet lake instead, read
    only (:mod:`riskatlas.lake`).
    """
    from riskatlas.lake import lake_or_store, open_lake

    methods = methods if isinstance(methods, Methods) else load_methods(methods)
    lake = lake or lake_or_store(path)
    store = open_lake(lake) if lake else open_store(path, read_only=read_only,
                                                   crosswalks=crosswalks, lock_wait=lock_wait)
    return Atlas(store, engine=engine, methods=methods)


def copy_store(source: str | Path, target: str | Path, *, overwrite: bool = False,
               on_table: Any = None) -> Any:
    """Copy a whole store between DuckDB files and PostgreSQL URLs, either way (``riskatlas
    db copy``): every table and sequence, in one transaction on the target, reconciled
    table by table; a :class:`riskatlas.store.transfer.CopyResult`."""
    from riskatlas.store.transfer import copy_store as copy

    return copy(source, target, overwrite=overwrite, on_table=on_table)


def upgrade_store(path: str | Path | None = None) -> tuple[list[int], list[Any]]:
    """Apply the schema migrations the store at ``path`` (a DuckDB file or a PostgreSQL
    URL) lacks (``riskatlas db upgrade``): the versions applied now, and every migration
    recorded in the store (version, name, applied at)."""
    from riskatlas.store.ddl import applied_migrations

    with open_store(path) as store:  # opening for writing applies them
        applied = [*store.migrated, *store.upgrade()]
        return applied, applied_migrations(store.connection)


def json_params(value: str | dict[str, Any] | None) -> dict[str, Any]:
    """Reason parameters stored as JSON (text, or already parsed by the driver)."""
    import orjson

    if isinstance(value, dict):
        return value
    return dict(orjson.loads(value)) if value else {}
