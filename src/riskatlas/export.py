"""Export records with labels (names next to codes) as CSV, Parquet, XLSX or GeoJSON."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from riskatlas.model.countries import country_name
from riskatlas.model.hazards import hips_types, reporting_groups

if TYPE_CHECKING:  # pandas loads when records are exported, not for every command
    import pandas as pd

FORMATS = ("csv", "parquet", "xlsx", "geojson")
XLSX_MAX_ROWS = 1_048_575


def labelled(frame: pd.DataFrame, lang: str = "en", *, with_raw: bool = False) -> pd.DataFrame:
    """Records with label columns for hazard group, HIPs hazard and country."""
    groups = reporting_groups()
    hips = hips_types()
    out = frame.copy()
    out.insert(out.columns.get_loc("hazard_group") + 1, "hazard_group_label",
               out["hazard_group"].map(lambda g: groups[g].name(lang) if g in groups else None))
    out.insert(out.columns.get_loc("hips_code") + 1, "hips_label",
               out["hips_code"].map(lambda c: hips[c].name_en if c in hips else None))
    out.insert(out.columns.get_loc("country_iso3") + 1, "country_label",
               out["country_iso3"].map(lambda c: country_name(c, lang) if c else None))
    if not with_raw:
        out = out.drop(columns=[c for c in ("raw", "extension") if c in out.columns])
    return out


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet may run such a cell


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell that a spreadsheet would take for a formula
    (``=HYPERLINK(…)``, ``+``, ``-``, ``@``, tab, CR first) prefixed with an apostrophe, so
    that it stays text in CSV and XLSX (OWASP's advice on CSV injection)."""
    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if (values.dtype == object or pd.api.types.is_string_dtype(values)) and \
                _formula_cells(values):  # only columns holding such a cell are rewritten
            out[column] = values.map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS)
                else v)
    return out


def _formula_cells(values: pd.Series) -> bool:
    """Whether a text cell of ``values`` starts as a formula (text columns at once)."""
    import pandas as pd

    if isinstance(values.dtype, pd.StringDtype):
        return bool(values.str.startswith(FORMULA_STARTS).fillna(False).any())
    return any(isinstance(v, str) and v.startswith(FORMULA_STARTS) for v in values)


def write(frame: pd.DataFrame, path: Path, fmt: str, centroids: dict[str, Any]) -> int:
    """Write ``frame`` to ``path`` in ``fmt``; returns the number of rows written (text
    that a spreadsheet would run as a formula is neutralised in CSV and XLSX)."""
    if fmt in ("csv", "xlsx"):
        frame = neutralised(frame)
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    elif fmt == "xlsx":
        frame.head(XLSX_MAX_ROWS).to_excel(path, index=False, sheet_name="records")
        return min(len(frame), XLSX_MAX_ROWS)
    elif fmt == "geojson":
        path.write_bytes(orjson.dumps(_features(frame, centroids),
                                      option=orjson.OPT_SERIALIZE_NUMPY, default=str))
    else:
        raise ValueError(fmt)
    return len(frame)


def _features(frame: pd.DataFrame, centroids: dict[str, Any]) -> dict[str, Any]:
    """Points at the record's coordinates, else at the centroid of its finest known unit."""
    import pandas as pd

    features = []
    for row in frame.to_dict(orient="records"):
        lon, lat = row.get("longitude"), row.get("latitude")
        if pd.isna(lon) or pd.isna(lat):
            for level in ("level2_code", "level1_code", "level0_code"):
                if row.get(level) in centroids:
                    lon, lat = centroids[row[level]]
                    break
            else:
                lon = lat = None
        props = {k: (None if _missing(v) else v) for k, v in row.items()}
        geometry = None if lon is None or pd.isna(lon) else {
            "type": "Point", "coordinates": [float(lon), float(lat)]}
        features.append({"type": "Feature", "geometry": geometry, "properties": props})
    return {"type": "FeatureCollection", "features": features}


def _missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
