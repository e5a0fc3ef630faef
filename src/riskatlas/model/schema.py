"""The canonical loss-record schema that every importer targets.

One row per data card. Impact fields are tri-state: a value; "reported but unknown"
(the value is NULL and ``<field>_unknown`` is true, DesInventar's hay_* flags); or not
reported (the value is NULL and ``<field>_unknown`` is false). A value that could not be
accepted is NULL too, with a row in ``quality_issues`` naming the field, the raw value and
the rule (value / reported-unknown / invalid / not reported). Everything else a source
carries is kept verbatim in ``raw`` (the source row, as text) and ``extension`` (the
DesInventar extension table or another source's extra block).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

Kind = Literal["key", "text", "int", "float", "date", "bool", "json", "count", "amount"]

_ARROW: dict[str, pa.DataType] = {
    "key": pa.string(),
    "text": pa.string(),
    "json": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "date": pa.date32(),
    "bool": pa.bool_(),
    "count": pa.int64(),
    "amount": pa.float64(),
}
_SQL = {
    "key": "VARCHAR",
    "text": "VARCHAR",
    "json": "VARCHAR",  # JSON text: the JSON type would re-parse every raw row on insert
    "int": "BIGINT",
    "float": "DOUBLE",
    "date": "DATE",
    "bool": "BOOLEAN",
    "count": "BIGINT",
    "amount": "DOUBLE",
}


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    description: str

    @property
    def tri_state(self) -> bool:
        return self.kind in ("count", "amount")


RECORD_FIELDS: tuple[Field, ...] = (
    # identity and provenance
    Field("record_id", "key", "Stable id: source key + ':' + native key (DesInventar clave)"),
    Field("dataset_id", "int", "The import (dataset) the record came from"),
    Field("source_file", "text", "File name the record was read from"),
    Field("source_row", "int", "Position of the record in its file (1-based)"),
    Field("native_key", "text", "The source's own key (clave, DisNo., row key)"),
    Field("serial", "text", "The source's serial number (not unique in DesInventar)"),
    Field("uuid", "text", "The source's UUID, when it has one"),
    # place
    Field("country_iso3", "text", "ISO 3166-1 alpha-3 country code"),
    Field("level0_code", "text", "First admin level of the source (DesInventar level0)"),
    Field("level0_name", "text", "Name of the level-0 unit"),
    Field("level1_code", "text", "Second admin level (DesInventar level1)"),
    Field("level1_name", "text", "Name of the level-1 unit"),
    Field("level2_code", "text", "Third admin level (DesInventar level2)"),
    Field("level2_name", "text", "Name of the level-2 unit"),
    Field("place", "text", "Free-text place (DesInventar lugar, EM-DAT Location)"),
    Field("latitude", "float", "WGS84 latitude; NULL when unknown (DesInventar 0,0 means unknown)"),
    Field("longitude", "float", "WGS84 longitude; NULL when unknown"),
    # time
    Field("start_year", "int", "Year the event started; NULL when the source's is unreadable"),
    Field("start_month", "int", "Month (1-12) or NULL when unknown (DesInventar 0)"),
    Field("start_day", "int", "Day (1-31) or NULL when unknown (DesInventar 0)"),
    Field("date_precision", "text",
          "unknown, year, month or day: how much of the start date is known"),
    Field("start_date", "date", "First day of the known start period"),
    Field("end_date", "date", "End date, when the source gives one"),
    Field("duration_days", "int", "Duration in days, when the source gives one"),
    # hazard
    Field("hazard_term", "text", "The source's own hazard name (DesInventar evento)"),
    Field("hazard_term_en", "text", "The source catalogue's English name for the term"),
    Field("hips_code", "text", "UNDRR-ISC HIPs 2025 code; NULL when the crosswalk has none"),
    Field("hazard_group", "text", "Reporting group (flood, storm ...); NULL if unmapped"),
    Field("climate_related", "bool", "Whether the hazard counts as climate-related"),
    Field("cause", "text", "Cause as given by the source (DesInventar causa)"),
    Field("cause_description", "text", "Description of the cause"),
    Field("glide", "text", "GLIDE number"),
    Field("event_name", "text", "Name of the event (storm name, EM-DAT event name)"),
    Field("magnitude", "text", "Magnitude as text"),
    # impacts: tri-state
    Field("deaths", "count", "People dead"),
    Field("missing", "count", "People missing"),
    Field("injured", "count", "People injured or ill"),
    Field(
        "directly_affected",
        "count",
        "People directly affected (Sendai B-1 sense): EM-DAT Total Affected; for "
        "DesInventar, victims + affected",
    ),
    Field("victims", "count", "DesInventar damnificados: people whose homes or goods were damaged"),
    Field("affected", "count", "DesInventar afectados / EM-DAT No. Affected: people affected"),
    Field("homeless", "count", "People left homeless (EM-DAT No. Homeless)"),
    Field("evacuated", "count", "People evacuated"),
    Field("relocated", "count", "People relocated"),
    Field("houses_destroyed", "count", "Houses destroyed"),
    Field("houses_damaged", "count", "Houses damaged"),
    Field("losses_local", "amount", "Losses in local currency"),
    Field("losses_usd", "amount", "Losses in US dollars"),
    Field("losses_usd_adjusted", "amount", "Losses in US dollars adjusted for inflation"),
    Field("crops_ha", "amount", "Crops and forest damaged (hectares)"),
    Field("livestock", "count", "Livestock lost (heads)"),
    Field("schools", "count", "Education centres damaged or destroyed"),
    Field("hospitals", "count", "Health centres damaged or destroyed"),
    Field("roads_km", "amount", "Roads damaged (km)"),
    # sectors affected: DesInventar flags (-1 yes, 0 no) or counts (Sendai roll-ups)
    Field("sector_transport", "int", "Transport sector affected"),
    Field("sector_communications", "int", "Communications sector affected"),
    Field("sector_relief", "int", "Relief sector involved"),
    Field("sector_agriculture", "int", "Agriculture sector affected"),
    Field("sector_water_supply", "int", "Water supply affected"),
    Field("sector_sewerage", "int", "Sewerage affected"),
    Field("sector_education", "int", "Education sector affected"),
    Field("sector_power", "int", "Power sector affected"),
    Field("sector_industry", "int", "Industry affected"),
    Field("sector_health", "int", "Health sector affected"),
    Field("sector_other", "int", "Other sectors affected"),
    Field("other_losses", "text", "Other losses as text (DesInventar otros)"),
    # workflow and documentation
    Field("approval_status", "text", "draft, submitted, needs_revision, validated or published"),
    Field("sources", "text", "Information sources"),
    Field("comments", "text", "Comments"),
    Field("recorded_by", "text", "Who entered the record at the source"),
    Field("recorded_on", "text", "When the record was entered at the source"),
    # lossless remainder
    Field("raw", "json", "Every field of the source row, verbatim as text"),
    Field("extension", "json", "The source's extension block (DesInventar extension table)"),
)

COUNT_FIELDS: tuple[str, ...] = tuple(f.name for f in RECORD_FIELDS if f.kind == "count")
IMPACT_FIELDS: tuple[str, ...] = tuple(f.name for f in RECORD_FIELDS if f.tri_state)
FIELDS_BY_NAME = {f.name: f for f in RECORD_FIELDS}

APPROVAL_STATUSES = ("draft", "submitted", "needs_revision", "validated", "published")
DATE_PRECISIONS = ("unknown", "year", "month", "day")


def unknown_flag(name: str) -> str:
    """The column that marks impact ``name`` as reported but unknown."""
    return f"{name}_unknown"


def record_columns() -> list[tuple[str, str]]:
    """(name, SQL type) of every column of the records table, flags included."""
    columns: list[tuple[str, str]] = []
    for field in RECORD_FIELDS:
        columns.append((field.name, _SQL[field.kind]))
        if field.tri_state:
            columns.append((unknown_flag(field.name), "BOOLEAN"))
    return columns


def record_arrow_schema() -> pa.Schema:
    """The Arrow schema of staged records (``raw``/``extension`` as JSON text)."""
    fields: list[pa.Field] = []
    for field in RECORD_FIELDS:
        fields.append(pa.field(field.name, _ARROW[field.kind]))
        if field.tri_state:
            fields.append(pa.field(unknown_flag(field.name), pa.bool_()))
    return pa.schema(fields)
