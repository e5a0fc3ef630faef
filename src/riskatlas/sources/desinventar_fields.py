"""DesInventar data-card fields and their canonical names, shared by the XML, flat-table
and DesInventar 8 readers (which first rename their columns to these field names)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from riskatlas.sources.convert import sum_known

# DesInventar field → canonical field
CARD_FIELDS: dict[str, str] = {
    "clave": "native_key",
    "serial": "serial",
    "uu_id": "uuid",
    "level0": "level0_code",
    "name0": "level0_name",
    "level1": "level1_code",
    "name1": "level1_name",
    "level2": "level2_code",
    "name2": "level2_name",
    "lugar": "place",
    "latitude": "latitude",
    "longitude": "longitude",
    "fechano": "start_year",
    "fechames": "start_month",
    "fechadia": "start_day",
    "duracion": "duration_days",
    "evento": "hazard_term",
    "causa": "cause",
    "descausa": "cause_description",
    "glide": "glide",
    "magnitud2": "magnitude",
    "muertos": "deaths",
    "desaparece": "missing",
    "heridos": "injured",
    "damnificados": "victims",
    "afectados": "affected",
    "evacuados": "evacuated",
    "reubicados": "relocated",
    "vivdest": "houses_destroyed",
    "vivafec": "houses_damaged",
    "valorloc": "losses_local",
    "valorus": "losses_usd",
    "nhectareas": "crops_ha",
    "cabezas": "livestock",
    "nescuelas": "schools",
    "nhospitales": "hospitals",
    "kmvias": "roads_km",
    "transporte": "sector_transport",
    "comunicaciones": "sector_communications",
    "socorro": "sector_relief",
    "agropecuario": "sector_agriculture",
    "acueducto": "sector_water_supply",
    "alcantarillado": "sector_sewerage",
    "educacion": "sector_education",
    "energia": "sector_power",
    "industrias": "sector_industry",
    "salud": "sector_health",
    "hay_otros": "sector_other",  # the "other sectors" flag (otros is the text of losses)
    "otros": "other_losses",
    "fuentes": "sources",
    "di_comments": "comments",
    "fechapor": "recorded_by",
    "fechafec": "recorded_on",
}
CANONICAL_TO_CARD = {v: k for k, v in CARD_FIELDS.items()}

# "there were such effects" flags (-1 yes): a zero count with the flag set is unknown
HAY_FLAGS: dict[str, str] = {
    "hay_muertos": "deaths",
    "hay_deasparece": "missing",
    "hay_heridos": "injured",
    "hay_damnificados": "victims",
    "hay_afectados": "affected",
    "hay_evacuados": "evacuated",
    "hay_reubicados": "relocated",
    "hay_vivdest": "houses_destroyed",
    "hay_vivafec": "houses_damaged",
}


_NOT_SET = frozenset(("", "0", "0.0", "false", "False"))


def _flag_set(value: Any) -> bool:
    if value is None:
        return False
    text = str(value).strip()
    return text not in ("", "0", "0.0", "false", "False")


def _is_zero_or_blank(value: Any) -> bool:
    if value is None:
        return True
    text = str(value).strip()
    try:
        return text == "" or float(text) == 0
    except ValueError:
        return False


def card_values(row: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Canonical values and the impacts reported but unknown, from DesInventar fields.

    Directly affected = victims + affected, of the parts that are known: a part reported
    but unknown (its hay_* flag set, no figure) adds nothing, and when no part is known but
    one is reported, directly affected is reported but unknown too."""
    values = {canon: row.get(field) for field, canon in CARD_FIELDS.items()}
    unknown = [canon for flag, canon in HAY_FLAGS.items()
               if _flag_set(row.get(flag)) and _is_zero_or_blank(row.get(CANONICAL_TO_CARD[canon]))]
    approved = row.get("approved")
    if approved is not None and str(approved).strip() != "":
        values["approval_status"] = "published" if str(approved).strip() == "0" else "draft"
    parts = [(values.get(canon), canon in unknown) for canon in DIRECT_PARTS]
    values["directly_affected"], reported = _directly_affected(parts)
    if reported:
        unknown.append("directly_affected")
    return values, unknown


# the parts of "directly affected" (Sendai B-1): victims (damnificados) and affected
DIRECT_PARTS = ("victims", "affected")


def _directly_affected(parts: Sequence[tuple[Any, bool]]) -> tuple[float | None, bool]:
    """The sum of the parts that are known, and whether it is reported but unknown (no part
    known, one reported unknown); ``parts`` are (value, reported but unknown)."""
    total = sum_known(*(None if unknown else value for value, unknown in parts))
    return total, total is None and any(unknown for _, unknown in parts)


def card_columns(column: Callable[[str], Sequence[Any] | None]
                 ) -> tuple[dict[str, Sequence[Any] | None], dict[str, list[bool]]]:
    """:func:`card_values` for many rows at once: canonical columns, and per impact which
    rows set its hay_* flag (for ``RecordBuilder.build_many``). ``column(field)`` gives a
    DesInventar field's values (text or None), or None when no row has the field."""
    columns: dict[str, Sequence[Any] | None] = {canon: column(field)
                                                for field, canon in CARD_FIELDS.items()}
    flagged = {}
    for flag, canon in HAY_FLAGS.items():
        values = column(flag)
        if values is not None:
            flagged[canon] = [v.strip() not in _NOT_SET if v.__class__ is str else _flag_set(v)
                              for v in values]
    approved = column("approved")
    columns["approval_status"] = None if approved is None else [_approval(v) for v in approved]
    victims, affected = columns["victims"], columns["affected"]
    if victims is None and affected is None:
        columns["directly_affected"] = None
        return columns, flagged
    n = len(victims if victims is not None else affected)  # type: ignore[arg-type]
    if "victims" not in flagged and "affected" not in flagged:  # no part can be unknown
        columns["directly_affected"] = [_sum2(v, a) for v, a in zip(
            victims or [None] * n, affected or [None] * n, strict=True)]
        return columns, flagged
    no = [False] * n
    direct, reported = [], []
    for v, a, v_flag, a_flag in zip(victims or [None] * n, affected or [None] * n,
                                    flagged.get("victims", no), flagged.get("affected", no),
                                    strict=True):
        v_unknown = v_flag and _is_zero_or_blank(v)
        a_unknown = a_flag and _is_zero_or_blank(a)
        if v_unknown or a_unknown:
            total, said = _directly_affected(((v, v_unknown), (a, a_unknown)))
        else:
            total, said = _sum2(v, a), False
        direct.append(total)
        reported.append(said)
    columns["directly_affected"] = direct
    flagged["directly_affected"] = reported
    return columns, flagged


def _approval(value: Any) -> str | None:
    if value is None or (text := str(value).strip()) == "":
        return None
    return "published" if text == "0" else "draft"


def _sum2(a: Any, b: Any) -> float | None:
    """sum_known(a, b); both numbers (the common case) without the general path."""
    try:
        return float(a) + float(b)
    except (TypeError, ValueError):
        return sum_known(a, b)
