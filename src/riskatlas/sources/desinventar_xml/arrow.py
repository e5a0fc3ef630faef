"""Typing: the rows of a chunk as Arrow tables. Cards are typed column by column
(:meth:`RecordBuilder.build_many`), falling back to the row-wise ``build()`` for any
unusual row; extension rows become (key, JSON text)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pyarrow as pa

from riskatlas.errors import RecordError
from riskatlas.model.countries import is_iso3
from riskatlas.model.quality import ISSUES_KEY, QualityIssue
from riskatlas.sources.convert import RecordBuilder, text
from riskatlas.sources.desinventar_fields import card_columns, card_values
from riskatlas.sources.desinventar_xml.rows import Row, lower_keys
from riskatlas.store import arrow_rows
from riskatlas.store.batch import EXTENSION_SCHEMA, RECORD_SCHEMA, Rejected


def as_dict(tags: tuple[str, ...], row: Row) -> dict[str, str]:
    return dict(zip(tags, row, strict=True)) if type(row) is tuple else row  # type: ignore[return-value]


def extension_table(tags: tuple[str, ...], rows: list[Row]) -> pa.Table:
    keys, texts = [], []
    for row in rows:
        raw = as_dict(tags, row)
        key = raw.get("clave_ext", raw.get("CLAVE_EXT")) or lower_keys(raw).get("clave_ext")
        keys.append(text(key) or "")
        texts.append(orjson.dumps(raw))
    return pa.Table.from_arrays([arrow_rows.column(keys, pa.string()),
                                 arrow_rows.column(texts, pa.string())], schema=EXTENSION_SCHEMA)


def card_table(tags: tuple[str, ...], rows: list[Row], first_row: int,
               builder: RecordBuilder, country: str | None
               ) -> tuple[pa.Table, list[Rejected], list[QualityIssue]]:
    """Cards typed column by column; the rows that need it are built one by one.
    ``country``: the country of every card (else each card's ISO3 level0)."""
    n = len(rows)
    names = tags if not rows or type(rows[0]) is tuple else tuple(rows[0])
    upper = bool(rows) and not all(k.islower() for k in names)  # one case per export
    column = _column_reader(tags, rows, upper)
    columns, flagged = card_columns(column)
    level0 = column("level0") or [None] * n
    columns["country_iso3"] = [country] * n if country else [
        code if _is_iso3(code) else None for code in level0]
    raw = [orjson.dumps(as_dict(tags, row)) for row in rows]
    table, slow = builder.build_many(columns, n, first_row=first_row, raw=raw, unknown=flagged)
    if not slow:
        return table, [], []
    out, rejected, issues = _build_rows(tags, rows, slow, first_row, builder, country, upper)
    if out:
        table = pa.concat_tables([table, pa.Table.from_pylist(out, RECORD_SCHEMA)])
        table = table.sort_by("source_row")
    return table, rejected, issues


def _build_rows(tags: tuple[str, ...], rows: list[Row], which: Sequence[int], first_row: int,
                builder: RecordBuilder, country: str | None, upper: bool
                ) -> tuple[list[dict[str, Any]], list[Rejected], list[QualityIssue]]:
    """The records of the rows ``which``, built one by one; the rows set aside; issues."""
    out: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    issues: list[QualityIssue] = []
    for i in which:
        raw_row = as_dict(tags, rows[i])
        low = lower_keys(raw_row) if upper else raw_row
        values, unknown = card_values(low)
        values["country_iso3"] = country or (
            low.get("level0") if is_iso3(low.get("level0")) else None)
        row_no = first_row + i
        ref = f"clave {low.get('clave')}" if low.get("clave") else f"row {row_no}"
        try:
            record = builder.build(values, row=row_no, record_ref=ref, raw=raw_row,
                                   unknown=unknown)
            issues.extend(record.pop(ISSUES_KEY, ()))
            out.append(record)
        except RecordError as exc:
            rejected.append(Rejected.from_error(exc, raw_row))
    return out, rejected, issues


def _column_reader(tags: tuple[str, ...], rows: list[Row], upper: bool
                   ) -> Callable[[str], Sequence[str | None] | None]:
    """A function giving the values of one field over all rows (None where absent; None
    for a field no row has)."""
    names = [t.lower() for t in tags] if upper else list(tags)
    index = {name: i for i, name in enumerate(names)}  # the last wins, as in lower_keys
    if all(type(r) is tuple for r in rows):
        columns = list(zip(*rows, strict=True)) if rows else []

        def from_tuples(field: str) -> Sequence[str | None] | None:
            i = index.get(field)
            return None if i is None or not columns else columns[i]
        return from_tuples
    lowered = [lower_keys(r) if upper and type(r) is dict else r for r in rows]
    fields = set(index).union(*(r for r in lowered if type(r) is dict))

    def mixed(field: str) -> Sequence[str | None] | None:
        if field not in fields:
            return None
        i = index.get(field)
        return [(r[i] if i is not None else None) if type(r) is tuple else r.get(field)  # type: ignore[call-overload, union-attr]
                for r in lowered]
    return mixed


@functools.lru_cache(maxsize=1024)
def _is_iso3(code: str | None) -> bool:
    return is_iso3(code)

