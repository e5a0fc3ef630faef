"""Typing and validation of canonical records, shared by every reader.

A reader maps its source fields to canonical names and hands raw values (text or
numbers) to :class:`RecordBuilder`, which types them, checks them and maps the hazard
term. A value that cannot be accepted costs that field only: the field is blanked (or a
fractional count rounded, or the date kept at the precision the data allows) and a
:class:`QualityIssue` names the record, the source field, the raw value and the rule; the
raw row keeps the value. With ``QualityPolicy(strict=True)`` (``--strict``) such a value
raises :class:`RecordError` instead, and the row is set aside. (The web's card forms take
the issues of one card and refuse it listing them all: :mod:`riskatlas.services.cards`.)
:meth:`RecordBuilder.build_many` types whole columns at once (Arrow) for the rows whose
values are plainly valid and hands every other row back to :meth:`RecordBuilder.build`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from riskatlas.errors import RecordError
from riskatlas.model.hazards import Crosswalk, is_climate_related
from riskatlas.model.quality import (
    FIELDS_ACCEPTED,
    FIELDS_READ,
    ISSUES_KEY,
    QualityIssue,
    QualityPolicy,
    staged_record_schema,
)
from riskatlas.model.schema import (
    COUNT_FIELDS,
    IMPACT_FIELDS,
    RECORD_FIELDS,
    unknown_flag,
)

MIN_YEAR = 1500
_IMPACTS = tuple((name, name in COUNT_FIELDS) for name in IMPACT_FIELDS)
_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
_INTS = ("sector_transport", "sector_communications", "sector_relief", "sector_agriculture",
         "sector_water_supply", "sector_sewerage", "sector_education", "sector_power",
         "sector_industry", "sector_health", "sector_other", "duration_days")
_FLOATS = ("latitude", "longitude")
_TEXTS = tuple(f.name for f in RECORD_FIELDS if f.kind in ("text", "key")
               and f.name not in ("record_id", "source_file", "hazard_group", "hips_code"))
_SCHEMA = staged_record_schema()
_END_FIELDS = ("end_date", "end_year", "end_month", "end_day")
_NUMBERS = (*IMPACT_FIELDS, *_INTS, *_FLOATS, "start_year", "start_month", "start_day")
_COUNTS = frozenset(COUNT_FIELDS)
_IMPACT_SET = frozenset(IMPACT_FIELDS)
_AMOUNTS = frozenset(name for name in IMPACT_FIELDS if name not in COUNT_FIELDS)
_INT_LIMIT = 2.0 ** 63  # beyond this a count is not an int64: left to build()
_SECTORS = frozenset(name for name in _INTS if name.startswith("sector_"))
# sector columns are MS-Access booleans in DesInventar (-1 yes, 0 no); words in any language
_YES = frozenset(("true", "yes", "y", "si", "sí", "oui", "sim", "ya", "x", "是", "有"))
_NO = frozenset(("false", "no", "n", "non", "não", "nao", "tidak", "否", "無", "无"))
UNSPECIFIED = "unspecified"  # the hazard term of a record that names none
# Fields reconciliation (FIELDS_READ, FIELDS_ACCEPTED): the record fields a source row
# fills. Not the keys, the approval status (a default), the date precision and start date
# (derived), nor the country (often from --country or the file name). The end date is one
# field, read from end_date or end_year/end_month/end_day.
_DATE_PARTS = ("start_year", "start_month", "start_day")
_TEXT_FIELDS = tuple(name for name in _TEXTS if name not in (
    "native_key", "approval_status", "date_precision", "country_iso3"))
_VALUE_FIELDS = (*IMPACT_FIELDS, *_INTS, *_FLOATS, *_DATE_PARTS, *_TEXT_FIELDS)
_RECONCILED = {"end_year": "end_date", "end_month": "end_date", "end_day": "end_date"}


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
        try:
            return None if value != value else float(value)  # NaN is blank
        except OverflowError:  # an int beyond float range
            return math.inf if value > 0 else -math.inf
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
        policy: QualityPolicy | None = None,
    ) -> None:
        self.source_key = source_key
        self.source_file = source_file
        self.crosswalk = crosswalk
        self.field_names = dict(field_names or {})
        self.max_year = max_year or dt.date.today().year + 1
        self.policy = policy or QualityPolicy()
        self._issues: list[QualityIssue] = []
        self._row = 0

    def error(self, key: str, record: str, field: str, **params: Any) -> RecordError:
        """A RecordError naming this file, the record and the source field."""
        return RecordError(
            key, path=self.source_file, record=record,
            field=self.field_names.get(field, field), **params,
        )

    def flag(self, key: str, record: str, name: str, value: Any, *,
             action: str = "blanked", **params: Any) -> None:
        """A value not taken as read: raises under the strict policy, else notes an issue
        (the caller blanks or adjusts the field)."""
        if self.policy.strict:
            raise self.error(key, record, name, value=value, **params)
        raw = None if value is None else str(value)
        self._issues.append(QualityIssue(
            self.source_file, self._row, record, name, self.field_names.get(name, name), raw,
            key, {"value": raw, **params}, action))

    def build(
        self,
        values: Mapping[str, Any],
        *,
        row: int,
        record_ref: str,
        raw: Mapping[str, Any],
        extension: Mapping[str, Any] | None = None,
        unknown: Iterable[str] = (),
        flags: Iterable[tuple[str, str, Any]] = (),
    ) -> dict[str, Any]:
        """One typed canonical record. ``unknown`` names impacts reported but unknown;
        ``flags`` are (rule, field, raw value) that the reader found (e.g. a date it could
        not parse; the field is left blank). The issues of its fields travel with it under
        ``ISSUES_KEY`` (the batch takes them)."""
        self._issues, self._row = [], row
        unknown_set = set(unknown)
        given = _given(values, unknown_set)
        for key, name, value in flags:
            self.flag(key, record_ref, name, value,
                      action="date_precision" if name == "start_year" else "blanked")
        out: dict[str, Any] = {name: text(values.get(name)) for name in _TEXTS}
        out["source_file"] = self.source_file
        out["source_row"] = row
        native = out["native_key"] or str(row)
        out["native_key"] = native
        out["record_id"] = f"{self.source_key}:{native}"
        for name, is_count in _IMPACTS:
            read = self._count if is_count else self._amount
            out[name] = read(values.get(name), name, record_ref)
            flag = name in unknown_set and not out[name]
            if flag:
                out[name] = None
            out[unknown_flag(name)] = flag
        for name in _INTS:
            read_int = self._sector if name in _SECTORS else self._int
            out[name] = read_int(values.get(name), name, record_ref)
        self._place(values, out, record_ref)
        self._dates(values, out, record_ref)
        self._hazard(out, record_ref)
        out["raw"] = dumps(raw)
        out["extension"] = dumps(extension) if extension else None
        flagged = {_RECONCILED.get(issue.field, issue.field) for issue in self._issues}
        out[FIELDS_READ] = len(given | flagged)
        out[FIELDS_ACCEPTED] = len(_stored(out) - flagged)
        if self._issues:
            out[ISSUES_KEY] = self._issues
        return out

    def build_many(
        self,
        columns: Mapping[str, Sequence[Any] | None],
        n: int,
        *,
        first_row: int,
        raw: Sequence[str | bytes],
        unknown: Mapping[str, Sequence[bool]] | None = None,
    ) -> tuple[pa.Table, list[int]]:
        """Records of ``n`` rows typed column by column: the same records :meth:`build`
        gives, for the rows whose values are plainly valid. Values are text, floats or None
        (a column of None: absent); ``raw`` holds each row's JSON text; ``unknown[name][i]``
        says row i reports impact ``name`` without a figure. Returns the table of those rows
        (in order) and the positions of the others, which the caller builds one by one."""
        if n == 0 or any(columns.get(name) is not None for name in _END_FIELDS):
            return _SCHEMA.empty_table(), list(range(n))
        bad = np.zeros(n, dtype=bool)
        # numbers: float64 values (NaN where null) and null masks
        values: dict[str, np.ndarray] = {}
        nulls: dict[str, np.ndarray] = {}
        parsed = _floats_together(columns, _NUMBERS, n)
        for name in _NUMBERS:
            v, null = values[name], nulls[name] = parsed.get(name) or _floats(
                columns.get(name), n, bad)
            if null.all():
                continue
            with np.errstate(invalid="ignore"):
                bad |= ~null & ~np.isfinite(v)  # "nan", "inf"
                bad |= np.abs(v) >= _INT_LIMIT
                if name in _COUNTS or name in _AMOUNTS:
                    bad |= v < 0
                if name not in _FLOATS and name not in _AMOUNTS:
                    bad |= ~null & (np.floor(v) != v)  # not a whole number
        lat, lon = values["latitude"], values["longitude"]
        zero = (lat == 0) & (lon == 0)  # DesInventar: 0,0 means unknown
        nulls["latitude"] = nulls["latitude"] | zero
        nulls["longitude"] = nulls["longitude"] | zero
        bad |= (lat < -90) | (lat > 90) | (lon < -180) | (lon > 180)
        year = values["start_year"]
        bad |= nulls["start_year"] | (year < MIN_YEAR) | (year > self.max_year)
        for name, top in (("start_month", 12), ("start_day", 31)):
            v = values[name]
            bad |= (v != 0) & ~nulls[name] & ((v < 1) | (v > top))
        # a day without a month: build() says it is not kept
        bad |= (~nulls["start_day"] & (values["start_day"] != 0)
                & (nulls["start_month"] | (values["start_month"] == 0)))
        bad |= _impossible_day(values, nulls, bad)
        texts = _texts_together(columns, n)
        bad |= np.asarray(pc.is_null(texts["hazard_term"]))

        good = np.flatnonzero(~bad)
        m = len(good)
        rows = pa.array(first_row + good, pa.int64())
        if m < n:
            keep = pa.array(~bad)
            texts = {name: arr.filter(keep) for name, arr in texts.items()}
            values = {name: v[good] for name, v in values.items()}
            nulls = {name: null[good] for name, null in nulls.items()}
            raw = [raw[i] for i in good.tolist()]
        out: dict[str, Any] = dict(texts)
        native = texts["native_key"]
        if native.null_count:
            native = pc.coalesce(native, pc.cast(rows, pa.string()))
        out["native_key"] = native
        out["record_id"] = pc.binary_join_element_wise(f"{self.source_key}:", native, "")
        out["source_file"] = pa.array([self.source_file] * m, pa.string())
        out["source_row"] = rows
        no_flag = pa.array(np.zeros(m, dtype=bool))
        read = np.zeros(m, dtype=np.int32)  # fields given, as _given() counts them
        for name, is_count in _IMPACTS:
            v, null = values[name], nulls[name]
            reported = (unknown or {}).get(name)
            flag = no_flag
            read += ~null
            if reported is not None:
                said = np.fromiter(reported, bool, n)
                if m < n:
                    said = said[good]
                read += said & null
                unknown_now = said & (null | (v == 0))  # reported, but no figure
                null = null | unknown_now
                flag = pa.array(unknown_now)
            out[name] = _number_array(v, null, is_count)
            out[unknown_flag(name)] = flag
        for name in (*_INTS, *_FLOATS, *_DATE_PARTS):
            read += ~nulls[name] & ((values[name] != 0) if name in _DATE_PARTS[1:] else True)
        for name in _TEXT_FIELDS:
            read += np.asarray(pc.is_valid(texts[name]))
        for name in _INTS:
            out[name] = _number_array(values[name], nulls[name], True)
        for name in _FLOATS:
            out[name] = _number_array(values[name], nulls[name], False)
        upper = {c: c.upper() for c in set(texts["country_iso3"].to_pylist()) if c}
        out["country_iso3"] = pa.array([upper.get(c) for c in texts["country_iso3"].to_pylist()],
                                       pa.string())
        self._dates_many(values, nulls, out)
        self._hazard_many(texts, out)
        out["raw"] = pa.array(raw, pa.string())
        out[FIELDS_READ] = pa.array(read, pa.int32())
        out[FIELDS_ACCEPTED] = pa.array(_stored_many(out, m), pa.int32())
        arrays = [_as_array(out.get(f.name), f.type, m) for f in _SCHEMA]
        return pa.Table.from_arrays(arrays, schema=_SCHEMA), np.flatnonzero(bad).tolist()

    def _dates_many(self, values: dict[str, np.ndarray], nulls: dict[str, np.ndarray],
                    out: dict[str, Any]) -> None:
        """Start dates of valid rows, as :meth:`_dates` (rows with a day not in its month
        went to :meth:`build`: :func:`_impossible_day`)."""
        year = values["start_year"].astype(np.int64)
        month = np.where(nulls["start_month"], 0, values["start_month"]).astype(np.int64)
        day = np.where(nulls["start_day"] | (month == 0), 0,
                       values["start_day"]).astype(np.int64)
        start = _first_day(year, np.maximum(month, 1))
        out["start_year"] = pa.array(year)
        out["start_month"] = pa.array(month, mask=month == 0)
        out["start_day"] = pa.array(day, mask=day == 0)
        out["start_date"] = pa.array(start + np.maximum(day, 1) - 1, pa.date32())
        precision = pa.array(np.where(day > 0, 2, np.where(month > 0, 1, 0)), pa.int8())
        out["date_precision"] = pc.take(pa.array(["year", "month", "day"]), precision)

    def _hazard_many(self, texts: dict[str, Any], out: dict[str, Any]) -> None:
        cause = texts["cause"].to_pylist()
        terms = list(zip(texts["hazard_term"].to_pylist(), texts["hazard_term_en"].to_pylist(),
                         strict=True))
        matches = {key: self.crosswalk.match(*key) for key in set(terms)}
        found = [matches[key] for key in terms]
        groups = [m.group if m else None for m in found]
        out["hips_code"] = [m.hips_code if m else None for m in found]
        out["hazard_group"] = groups
        pairs = list(zip(groups, cause, strict=True))
        climate = {key: is_climate_related(*key) for key in set(pairs)}
        out["climate_related"] = pa.array([climate[key] for key in pairs], pa.bool_())
        out["approval_status"] = pc.fill_null(texts["approval_status"], "published")

    def _number(self, value: Any, name: str, ref: str) -> float | None:
        try:
            number = to_number(value)
        except ValueError:
            self.flag("record.not_a_number", ref, name, value)
            return None
        if number is not None and not math.isfinite(number):
            self.flag("record.not_a_number", ref, name, value)
            return None
        return number

    def _count(self, value: Any, name: str, ref: str) -> int | None:
        number = self._amount(value, name, ref)
        if number is None:
            return None
        if number >= _INT_LIMIT:
            self.flag("record.too_large", ref, name, value)
            return None
        if not number.is_integer():
            if self.policy.strict or self.policy.fractional == "reject-record":
                raise self.error("record.not_integer", ref, name, value=value)
            if self.policy.fractional == "blank":
                self.flag("record.not_integer", ref, name, value)
                return None
            rounded = round(number)  # half to even
            self.flag("record.rounded", ref, name, value, action="rounded", stored=rounded)
            return rounded
        return int(number)

    def _amount(self, value: Any, name: str, ref: str) -> float | None:
        number = self._number(value, name, ref)
        if number is not None and number < 0:
            self.flag("record.negative", ref, name, value)
            return None
        return number

    def _int(self, value: Any, name: str, ref: str) -> int | None:
        number = self._number(value, name, ref)
        if number is None:
            return None
        if abs(number) >= _INT_LIMIT:
            self.flag("record.too_large", ref, name, value)
            return None
        if not number.is_integer():
            self.flag("record.not_integer", ref, name, value)
            return None
        return int(number)

    def _sector(self, value: Any, name: str, ref: str) -> int | None:
        """A sector flag: a number as it is (-1 yes, 0 no, or a count), or a yes/no word."""
        word = text(value)
        if word is not None and word.lower() in _YES:
            return -1
        if word is not None and word.lower() in _NO:
            return 0
        return self._int(value, name, ref)

    def _place(self, values: Mapping[str, Any], out: dict[str, Any], ref: str) -> None:
        lat = self._number(values.get("latitude"), "latitude", ref)
        lon = self._number(values.get("longitude"), "longitude", ref)
        if lat == 0 and lon == 0:  # DesInventar: 0,0 means unknown
            lat = lon = None
        place = {"latitude": lat, "longitude": lon}
        bad = [name for name, top in (("latitude", 90), ("longitude", 180))
               if (number := place[name]) is not None and not -top <= number <= top]
        for name in bad:
            self.flag("record.out_of_range", ref, name, values.get(name))
        if bad:  # half a position locates nothing: the other coordinate goes too
            for name, number in place.items():
                if name not in bad and number is not None:
                    self.flag("record.needs_field", ref, name, values.get(name),
                              other=self.field_names.get(bad[0], bad[0]))
            lat = lon = None
        out["latitude"], out["longitude"] = lat, lon
        if out["country_iso3"]:
            out["country_iso3"] = out["country_iso3"].upper()

    def _dates(self, values: Mapping[str, Any], out: dict[str, Any], ref: str) -> None:
        """The start date at the best precision the data allows: an unreadable year leaves
        it unknown, an unreadable month the year, an impossible day the month."""
        year = self._int(values.get("start_year"), "start_year", ref)
        said = any(issue.field == "start_year" for issue in self._issues)
        if year is None and text(values.get("start_year")) is None and not said:
            self.flag("record.no_year", ref, "start_year", None, action="date_precision")
        elif year is not None and not MIN_YEAR <= year <= self.max_year:
            self.flag("record.year_out_of_range", ref, "start_year", year,
                      action="date_precision", min=MIN_YEAR, max=self.max_year)
            year = None
        month = self._int(values.get("start_month"), "start_month", ref) or None
        day = self._int(values.get("start_day"), "start_day", ref) or None
        if month is not None and not 1 <= month <= 12:
            self.flag("record.month_out_of_range", ref, "start_month", month,
                      action="date_precision")
            month = None
        if day is not None and not 1 <= day <= 31:
            self.flag("record.day_out_of_range", ref, "start_day", day, action="date_precision")
            day = None
        if year is None and month is not None:  # a month without a year dates nothing
            self.flag("record.needs_field", ref, "start_month", values.get("start_month"),
                      action="date_precision", other=self._source_name("start_year"))
            month = None
        if month is None and day is not None:
            self.flag("record.needs_field", ref, "start_day", values.get("start_day"),
                      action="date_precision",
                      other=self._source_name("start_month" if year else "start_year"))
            day = None
        if year is not None and month is not None and day is not None:
            try:
                dt.date(year, month, day)
            except ValueError:  # 31 February: keep the month, the raw row keeps the day
                self.flag("record.impossible_date", ref, "start_day", f"{year}-{month}-{day}",
                          action="date_precision")
                day = None
        out["start_year"], out["start_month"], out["start_day"] = year, month, day
        out["date_precision"] = ("day" if day else "month" if month else "year" if year
                                 else "unknown")
        out["start_date"] = dt.date(year, month or 1, day or 1) if year else None
        out["end_date"] = self._end_date(values, ref)

    def _source_name(self, name: str) -> str:
        return self.field_names.get(name, name)

    def _end_date(self, values: Mapping[str, Any], ref: str) -> dt.date | None:
        """The end date (one field, from its parts): a part that cannot be read blanks it
        with one issue; a month or day without a year too."""
        end = values.get("end_date")
        if isinstance(end, dt.date):
            return end
        before = len(self._issues)
        year = self._int(values.get("end_year"), "end_year", ref)
        if year is None:
            part = next((name for name in ("end_month", "end_day")
                         if text(values.get(name)) is not None), None)
            if len(self._issues) == before and part is not None:
                self.flag("record.needs_field", ref, part, values.get(part),
                          other=self._source_name("end_year"))
            return None
        month = self._int(values.get("end_month"), "end_month", ref)
        day = self._int(values.get("end_day"), "end_day", ref) if len(
            self._issues) == before else None
        if len(self._issues) > before:
            return None
        month = month or 12
        try:
            last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
            return dt.date(year, month, min(day or last, last))
        except (ValueError, OverflowError):
            self.flag("record.bad_date", ref, "end_year", f"{year}-{month}-{day}")
            return None

    def _hazard(self, out: dict[str, Any], ref: str) -> None:
        if not out["hazard_term"]:
            self.flag("record.no_hazard", ref, "hazard_term", None, action="unspecified")
            out["hazard_term"] = UNSPECIFIED
        match = self.crosswalk.match(out["hazard_term"], out["hazard_term_en"])
        out["hips_code"] = match.hips_code if match else None
        out["hazard_group"] = match.group if match else None
        out["climate_related"] = is_climate_related(out["hazard_group"], out["cause"])
        if out["approval_status"] is None:
            out["approval_status"] = "published"


def _given(values: Mapping[str, Any], unknown: set[str]) -> set[str]:
    """The record fields a source row gives (see :data:`_VALUE_FIELDS`): a value that is
    not blank, or an impact reported without a figure. DesInventar's 0 for an unknown month
    or day, and 0,0 for an unknown position, give nothing; the end date counts once."""
    found = {name for name in _VALUE_FIELDS if text(values.get(name)) is not None}
    found |= unknown & _IMPACT_SET
    for name in ("start_month", "start_day"):
        if name in found and _is_zero(values.get(name)):
            found.discard(name)
    if _is_zero(values.get("latitude")) and _is_zero(values.get("longitude")):
        found -= {"latitude", "longitude"}
    if any(text(values.get(name)) is not None for name in _END_FIELDS):
        found.add("end_date")
    return found


def _is_zero(value: Any) -> bool:
    try:
        return to_number(value) == 0
    except ValueError:
        return False


def _stored(out: Mapping[str, Any]) -> set[str]:
    """The record fields that hold a value (an impact: or its reported-unknown flag)."""
    found = {name for name in (*_VALUE_FIELDS, "end_date") if out.get(name) is not None}
    return found | {name for name in IMPACT_FIELDS if out.get(unknown_flag(name))}


def _stored_many(out: Mapping[str, Any], m: int) -> np.ndarray:
    """:func:`_stored` of each of ``m`` rows, as a count, from the arrays of build_many."""
    count = np.zeros(m, dtype=np.int32)
    for name in _VALUE_FIELDS:
        column = out.get(name)
        if column is None:
            continue
        if isinstance(column, pa.Array | pa.ChunkedArray):
            valid = np.asarray(pc.is_valid(column))
        else:
            valid = np.fromiter((v is not None for v in column), bool, m)
        if name in _IMPACT_SET:
            valid = valid | np.asarray(out[unknown_flag(name)].to_numpy(zero_copy_only=False))
        count += valid
    return count


def _first_day(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    """The first day of each (year, month) as datetime64[D] (month 13 = January after)."""
    return ((year - 1970) * 12 + month - 1).astype("datetime64[M]").astype("datetime64[D]")


def _impossible_day(values: dict[str, np.ndarray], nulls: dict[str, np.ndarray],
                    bad: np.ndarray) -> np.ndarray:
    """Rows whose day does not exist in their month (31 February): build() flags them."""
    ok = (~bad & ~nulls["start_day"] & ~nulls["start_month"] & (values["start_month"] >= 1)
          & (values["start_day"] > 28))
    if not ok.any():
        return np.zeros(len(bad), dtype=bool)
    year = values["start_year"][ok].astype(np.int64)
    month = values["start_month"][ok].astype(np.int64)
    length = (_first_day(year, month + 1) - _first_day(year, month)).astype(np.int64)
    out = np.zeros(len(bad), dtype=bool)
    out[np.flatnonzero(ok)] = values["start_day"][ok] > length
    return out


def _floats(col: Sequence[Any] | None, n: int, bad: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Numbers of a column as float64 values (NaN where null) and a null mask (None and ""
    are null). Text goes through Arrow's parser, whose finite numbers are a subset of what
    float() reads, with the same values (both round correctly); a column it refuses is
    read by float() value by value, and a value float() does not read either marks its row
    ``bad`` (build() decides: blank, thousands or an error)."""
    if col is None:
        return np.full(n, np.nan), np.ones(n, dtype=bool)
    arr = None
    try:
        text = pa.array(col, pa.string())
        arr = pc.cast(pc.if_else(pc.equal(text, ""), None, text), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass  # numbers rather than text, or text Arrow does not read
    if arr is None:
        numbers: list[float | None] = [None] * n
        for i, value in enumerate(col):
            if value is None or value == "":
                continue
            try:
                numbers[i] = float(value)
            except (TypeError, ValueError):
                bad[i] = True
        arr = pa.array(numbers, pa.float64())
    null = np.asarray(arr.is_null())
    return arr.to_numpy(zero_copy_only=False), null


def _floats_together(columns: Mapping[str, Sequence[Any] | None], names: Sequence[str],
                     n: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """:func:`_floats` of the text columns among ``names`` in one pass through Arrow (a
    column call costs more than its values); {} when Arrow cannot read them all."""
    text = [name for name in names if (col := columns.get(name)) is not None
            and next((v for v in col if v is not None), "").__class__ is str]
    if not text:
        return {}
    try:
        flat = pa.array(itertools.chain.from_iterable(columns[name] for name in text),  # type: ignore[misc]
                        pa.string(), size=n * len(text))
        arr = pc.cast(pc.if_else(pc.equal(flat, ""), None, flat), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return {}
    values = arr.to_numpy(zero_copy_only=False).reshape(len(text), n)
    null = np.asarray(arr.is_null()).reshape(len(text), n)
    return {name: (values[i], null[i]) for i, name in enumerate(text)}


def _texts_together(columns: Mapping[str, Sequence[Any] | None], n: int) -> dict[str, Any]:
    """:func:`_texts` of every text field, the present ones in one pass through Arrow."""
    present = [name for name in _TEXTS if columns.get(name) is not None]
    try:
        flat = pa.array(itertools.chain.from_iterable(columns[name] for name in present),  # type: ignore[misc]
                        pa.string(), size=n * len(present))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return {name: _texts(columns.get(name), n) for name in _TEXTS}
    flat = pc.utf8_trim(flat, characters=_WHITESPACE)
    flat = pc.if_else(pc.equal(flat, ""), None, flat)
    texts = {name: flat.slice(i * n, n) for i, name in enumerate(present)}
    return {name: texts.get(name) or pa.nulls(n, pa.string()) for name in _TEXTS}


def _number_array(values: np.ndarray, null: np.ndarray, whole: bool) -> pa.Array:
    """An int64 (``whole``) or float64 Arrow array of valid values, null where ``null``."""
    if whole:
        return pa.array(np.where(null, 0, values).astype(np.int64), mask=null)
    return pa.array(np.where(null, 0.0, values), mask=null)


# the characters str.strip() removes (str.isspace)
_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
               "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def _texts(col: Sequence[Any] | None, n: int) -> pa.Array:
    """text() of every value: trimmed text, or null when blank."""
    if col is None:
        return pa.nulls(n, pa.string())
    try:
        arr = pa.array(col, pa.string())
    except (TypeError, pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([text(v) for v in col], pa.string())
    arr = pc.utf8_trim(arr, characters=_WHITESPACE)
    return pc.if_else(pc.equal(arr, ""), None, arr)


def _as_array(values: Any, type_: pa.DataType, n: int) -> pa.Array:
    if values is None:
        return pa.nulls(n, type_)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == type_ else values.cast(type_)
    return pa.array(values, type_)
