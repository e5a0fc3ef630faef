"""Field-level data quality of imported records: what a bad value costs (the policy) and
the issue it leaves (one per record and field; ``quality_issues`` in the store). The record
builder (:mod:`riskatlas.sources.convert`) makes them, the import batch stores them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from riskatlas.model.schema import record_arrow_schema

ISSUES_KEY = "__quality_issues"  # the key under which build() hands a record's issues on

Fractional = Literal["round", "blank", "reject-record"]


@dataclass(frozen=True)
class QualityPolicy:
    """What a bad value costs. ``strict``: the whole record (set aside with its reason);
    otherwise the field only. ``fractional``: a count with a fraction (an imputed 0.0328
    deaths) is rounded half to even, blanked, or sets the record aside."""

    strict: bool = False
    fractional: Fractional = "round"


@dataclass
class QualityIssue:
    """One field of one record that was not taken as read (the raw row keeps the value)."""

    source_file: str
    source_row: int
    record_ref: str
    field: str  # the canonical field
    source_field: str  # the source's own column or element name
    raw_value: str | None
    rule: str  # message key, e.g. record.negative
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    action: str = "blanked"  # blanked | rounded | unspecified | date_precision


# Fields reconciliation: each staged record carries how many of its fields the source gave
# (a value, or an impact reported without a figure; a field whose absence is flagged, such
# as a missing year, counts too) and how many of them were stored as read. At commit,
# fields read = fields accepted + fields flagged (quality_issues rows), per file.
FIELDS_READ = "fields_read"
FIELDS_ACCEPTED = "fields_accepted"


def staged_record_schema() -> pa.Schema:
    """The Arrow schema of staged records: the records table's, with the two counts."""
    return record_arrow_schema().append(pa.field(FIELDS_READ, pa.int32())).append(
        pa.field(FIELDS_ACCEPTED, pa.int32()))
