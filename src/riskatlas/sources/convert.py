"""Typing and validation of canonical records, shared by every reader.

A reader maps its source fields to canonical names and hands raw values (text or
numbers) to :class:`RecordBuilder`, which types them, checks them and maps the hazard
term. A value that cannot be accepted raises :class:`RecordError` naming the source
field, so the row is set aside with its reason instead of being lost.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from riskatlas.errors import RecordError
from riskatlas.model.hazards import Crosswalk, is_climate_related
from riskatlas.model.schema import COUNT_FIELDS, IMPACT_FIELDS, RECORD_FIELDS, unknown_flag

MIN_YEAR = 1500
_IMPACTS = tuple((name, name in COUNT_FIELDS) for name in IMPACT_FIELDS)
_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
_INTS = ("sector_transport", "sector_communications", "sector_relief", "sector_agriculture",
         "sector_water_supply", "sector_sewerage", "sector_education", "sector_power",
         "sector_industry", "sector_health", "sector_other", "duration_days")
_FLOATS = ("latitude", "longitude")
_TEXTS = tuple(f.name for f in RECORD_FIELDS if f.kind in ("text", "key")
               and f.name not in ("record_id", "source_file", "hazard_group", "hips_code"))


def to_number(value: Any) -> float | None:
    """A number from text or a number; None when blank. Raises ValueError when not numeric."""
    if value is None:
        return None
    if type(value) is str:  # the hot path: text from XML or CSV
        try:
            return float(value)
        except ValueError:
            literal = value.strip()
            if not literal:
                return None
            if _THOUSANDS.match(literal):
                return float(literal.replace(",", ""))
            raise
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        return None if value != value else float(value)  # NaN is blank
    return to_number(str(value))


def sum_known(*parts: Any) -> float | None:
    """The sum of the parts that are known; None when none is, or one is not a number (the
    record builder reports that part)."""
    try:
        numbers = [n for n in map(to_number, parts) if n is not None]
    except ValueError:
        return None
    return sum(numbers) if numbers else None


def text(value: Any) -> str | None:
    """Trimmed text or None; integral floats from spreadsheets lose their '.0'."""
    if value is None:
        return None
    if type(value) is str:
        return value.strip() or None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    return str(value).strip() or None


def dumps(value: Mapping[str, Any] | None) -> str | None:
    """JSON text of a raw row (values kept as they were read)."""
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class RecordBuilder:
    """Types, validates and hazard-maps canonical records for one input file."""

    def __init__(
        self,
        *,
        source_key: str,
        source_file: str,
        crosswalk: Crosswalk,
        field_names: Mapping[str, str] | None = None,
        max_year: int | None = None,
    ) -> None:
        self.source_key = source_key
        self.source_file = source_file
        self.crosswalk = crosswalk
        self.field_names = dict(field_names or {})
        self.max_year = max_year or dt.date.today().year + 1

    def error(self, key: str, record: str, field: str, **params: Any) -> RecordError:
        """A RecordError naming this file, the record and the source field."""
        return RecordError(
            key, path=self.source_file, record=record,
            field=self.field_names.get(field, field), **params,
        )

    def build(
        self,
        values: Mapping[str, Any],
        *,
        row: int,
        record_ref: str,
        raw: Mapping[str, Any],
        extension: Mapping[str, Any] | None = None,
        unknown: Iterable[str] = (),
    ) -> dict[str, Any]:
        """One typed canonical record. ``unknown`` names impacts reported but unknown."""
        out: dict[str, Any] = {name: text(values.get(name)) for name in _TEXTS}
        out["source_file"] = self.source_file
        out["source_row"] = row
        native = out["native_key"] or str(row)
        out["native_key"] = native
        out["record_id"] = f"{self.source_key}:{native}"
        unknown_set = set(unknown)
        for name, is_count in _IMPACTS:
            read = self._count if is_count else self._amount
            out[name] = read(values.get(name), name, record_ref)
            flag = name in unknown_set and not out[name]
            if flag:
                out[name] = None
            out[unknown_flag(name)] = flag
        for name in _INTS:
            out[name] = self._int(values.get(name), name, record_ref)
        self._place(values, out, record_ref)
        self._dates(values, out, record_ref)
        self._hazard(out, record_ref)
        out["raw"] = dumps(raw)
        out["extension"] = dumps(extension) if extension else None
        return out

    def _number(self, value: Any, name: str, ref: str) -> float | None:
        try:
            number = to_number(value)
        except ValueError:
            raise self.error("record.not_a_number", ref, name, value=value) from None
        if number is not None and not math.isfinite(number):
            raise self.error("record.not_a_number", ref, name, value=value)
        return number

    def _count(self, value: Any, name: str, ref: str) -> int | None:
        number = self._amount(value, name, ref)
        if number is None:
            return None
        if not number.is_integer():
            raise self.error("record.not_integer", ref, name, value=value)
        return int(number)

    def _amount(self, value: Any, name: str, ref: str) -> float | None:
        number = self._number(value, name, ref)
        if number is not None and number < 0:
            raise self.error("record.negative", ref, name, value=value)
        return number

    def _int(self, value: Any, name: str, ref: str) -> int | None:
        number = self._number(value, name, ref)
        if number is None:
            return None
        if not number.is_integer():
            raise self.error("record.not_integer", ref, name, value=value)
        return int(number)

    def _place(self, values: Mapping[str, Any], out: dict[str, Any], ref: str) -> None:
        lat = self._number(values.get("latitude"), "latitude", ref)
        lon = self._number(values.get("longitude"), "longitude", ref)
        if lat == 0 and lon == 0:  # DesInventar: 0,0 means unknown
            lat = lon = None
        if lat is not None and not -90 <= lat <= 90:
            raise self.error("record.out_of_range", ref, "latitude", value=values.get("latitude"))
        if lon is not None and not -180 <= lon <= 180:
            raise self.error("record.out_of_range", ref, "longitude", value=values.get("longitude"))
        out["latitude"], out["longitude"] = lat, lon
        if out["country_iso3"]:
            out["country_iso3"] = out["country_iso3"].upper()

    def _dates(self, values: Mapping[str, Any], out: dict[str, Any], ref: str) -> None:
        year = self._int(values.get("start_year"), "start_year", ref)
        if year is None:
            raise self.error("record.no_year", ref, "start_year")
        if not MIN_YEAR <= year <= self.max_year:
            raise self.error("record.year_out_of_range", ref, "start_year",
                             value=year, min=MIN_YEAR, max=self.max_year)
        month = self._int(values.get("start_month"), "start_month", ref) or None
        day = self._int(values.get("start_day"), "start_day", ref) or None
        if month is not None and not 1 <= month <= 12:
            raise self.error("record.month_out_of_range", ref, "start_month", value=month)
        if day is not None and not 1 <= day <= 31:
            raise self.error("record.day_out_of_range", ref, "start_day", value=day)
        if month is None:
            day = None
        elif day is not None:
            try:
                dt.date(year, month, day)
            except ValueError:  # 31 April: keep the month, the raw row keeps the day
                day = None
        out["start_year"], out["start_month"], out["start_day"] = year, month, day
        out["date_precision"] = "day" if day else "month" if month else "year"
        out["start_date"] = dt.date(year, month or 1, day or 1)
        out["end_date"] = self._end_date(values, ref)

    def _end_date(self, values: Mapping[str, Any], ref: str) -> dt.date | None:
        end = values.get("end_date")
        if isinstance(end, dt.date):
            return end
        year = self._int(values.get("end_year"), "end_year", ref)
        if year is None:
            return None
        month = self._int(values.get("end_month"), "end_month", ref) or 12
        day = self._int(values.get("end_day"), "end_day", ref)
        try:
            last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
            return dt.date(year, month, min(day or last, last))
        except ValueError:
            raise self.error("record.bad_date", ref, "end_year",
                             value=f"{year}-{month}-{day}") from None

    def _hazard(self, out: dict[str, Any], ref: str) -> None:
        term = out["hazard_term"]
        if not term:
            raise self.error("record.no_hazard", ref, "hazard_term")
        match = self.crosswalk.match(term, out["hazard_term_en"])
        out["hips_code"] = match.hips_code if match else None
        out["hazard_group"] = match.group if match else None
        out["climate_related"] = is_climate_related(out["hazard_group"], out["cause"])
        if out["approval_status"] is None:
            out["approval_status"] = "published"
