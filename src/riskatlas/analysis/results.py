"""Analysis results as DataFrames that say what they are.

Each result carries, in ``frame.attrs``, the analysis, its scope, the engine and the
methods profile (version and digest) it used, plus notes such as "absolute values: no
population loaded". Hazard keys get their names in the reader's language.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas loads on first use, not for an import
    import pandas as pd

from riskatlas.analysis.methods import Methods
from riskatlas.analysis.scope import NO_COUNTRY, UNMAPPED, Scope
from riskatlas.model.countries import country_name
from riskatlas.model.hazards import hips_types, reporting_groups


def hazard_name(key: str | None, lang: str = "en") -> str | None:
    """The name of a hazard key: a reporting group, a HIPs code or a source term."""
    if not isinstance(key, str):  # None, or NaN from a pandas column
        return None
    groups = reporting_groups()
    if key in groups:
        return groups[key].name(lang)
    hips = hips_types()
    if key in hips:
        return hips[key].name_en
    return key.removeprefix(UNMAPPED)


# a note on a result: a message key, or a key with the values its message shows
Note = str | tuple[str, dict[str, Any]]


def labelled(frame: pd.DataFrame, *, analysis: str, scope: Scope, methods: Methods,
             engine: str, lang: str = "en", notes: Sequence[Note] = (),
             extra: dict[str, Any] | None = None,
             period: dict[str, Any] | None = None) -> pd.DataFrame:
    """``frame`` with hazard and country names filled in and its provenance in attrs
    (``notes``: the message keys; ``note_params``: the values of those that have some;
    ``period``: the observation period used, per country, and the cards left out of it
    (:func:`riskatlas.analysis.period.stamp`)."""
    frame = frame.reset_index(drop=True)
    if "hazard" in frame.columns:
        names = {k: hazard_name(k, lang) for k in frame["hazard"].unique()}
        at = list(frame.columns).index("hazard") + 1
        frame.insert(at, "hazard_name", frame["hazard"].map(names))
    if "admin_name" in frame.columns and scope.level is None and len(frame):
        frame["admin_name"] = [
            country_name(c, lang) if c != NO_COUNTRY else c for c in frame["country_iso3"]]
    keys = [n if isinstance(n, str) else n[0] for n in notes]
    params = {n[0]: n[1] for n in notes if not isinstance(n, str)}
    frame.attrs = {"analysis": analysis, "scope": scope.describe(), "engine": engine,
                   **methods.stamp(), "notes": keys, "note_params": params,
                   **({"period": period} if period is not None else {}), **(extra or {})}
    return frame


def statuses_text(statuses: Sequence[str] | None, lang: str) -> str:
    """Which approval statuses a result counts, in words: "published cards counted"."""
    from riskatlas.i18n import translate

    if statuses is None:
        return translate("report.all_statuses", lang)
    return translate("report.statuses_counted", lang, statuses=translate(
        "report.list_sep", lang).join(translate(f"workflow.state.{s}", lang)
                                      for s in statuses))


def note_texts(results: Iterable[dict[str, Any]], lang: str) -> list[str]:
    """The notes of results (their ``attrs``) as text in ``lang``, each once, in order."""
    from riskatlas.i18n import translate

    texts: dict[str, None] = {}
    for attrs in results:
        params = attrs.get("note_params", {})
        for key in attrs.get("notes", []):
            texts[translate(key, lang, **_worded(params.get(key, {}), lang))] = None
    return list(texts)


def _worded(params: dict[str, Any], lang: str) -> dict[str, Any]:
    """A note's values in ``lang``: its approval ``statuses`` ("published, validated") by
    their names in the catalogue."""
    from riskatlas.i18n import translate

    statuses = params.get("statuses")
    if not isinstance(statuses, str) or not statuses:
        return params
    names = [translate(f"workflow.state.{s.strip()}", lang) for s in statuses.split(",")]
    return {**params, "statuses": translate("report.list_sep", lang).join(names)}


def sort_rows(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Rows in a stable order (engines return them in any order)."""
    present = [k for k in keys if k in frame.columns]
    return frame.sort_values(present, kind="stable").reset_index(drop=True) if present \
        else frame
