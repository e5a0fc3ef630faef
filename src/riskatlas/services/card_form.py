"""What a data card is made of: the fields of the card form, their checks, the card built
from them as an import builds it, and the error of a refused card listing every problem.

A card's fields are DesInventar card fields under their canonical names. They are built
exactly as an import builds them: renamed to DesInventar fields and passed through
:func:`riskatlas.sources.desinventar_fields.card_values` (directly affected = victims +
affected, "reported but unknown" flags), then typed, validated and hazard-mapped by
:class:`riskatlas.sources.convert.RecordBuilder` with the store's crosswalk. A card is
refused (400, :class:`CardInvalidError`) with EVERY problem at once: each value an import
would not take as read (with the importers' message), each field the form does not have
or a text too long, named by its field. Where the card is (country, admin units) is
checked by :mod:`riskatlas.services.cards` against the gazetteer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from riskatlas.errors import RiskAtlasError
from riskatlas.i18n import catalogue, translate
from riskatlas.model.quality import ISSUES_KEY, QualityIssue, QualityPolicy
from riskatlas.sources.convert import RecordBuilder
from riskatlas.sources.desinventar_fields import CANONICAL_TO_CARD, HAY_FLAGS, card_values

SOURCE_KEY = "WEB"
DATASET_NAME = "web entries"
DATASET_FORMAT = "web"
SOURCE_FILE = "web"

# the fields of the card form, in its order (canonical names)
PLACE_FIELDS = ("country_iso3", "level0_code", "level0_name", "level1_code", "level1_name",
                "level2_code", "level2_name", "place", "latitude", "longitude")
EVENT_FIELDS = ("start_year", "start_month", "start_day", "duration_days", "hazard_term",
                "event_name", "cause", "glide", "magnitude")
EFFECT_FIELDS = ("deaths", "missing", "injured", "victims", "affected", "evacuated",
                 "relocated", "houses_destroyed", "houses_damaged", "losses_local",
                 "losses_usd", "crops_ha", "livestock", "schools", "hospitals", "roads_km")
NOTE_FIELDS = ("sources", "comments")
FORM_FIELDS = (*PLACE_FIELDS, *EVENT_FIELDS, *EFFECT_FIELDS, *NOTE_FIELDS)
NUMBER_FIELDS = frozenset(("latitude", "longitude", "start_year", "start_month", "start_day",
                           "duration_days", *EFFECT_FIELDS))
UNKNOWN_IMPACTS = tuple(HAY_FLAGS.values())  # impacts a card may report as "unknown"
_FLAG_OF = {canon: flag for flag, canon in HAY_FLAGS.items()}
MAX_TEXT = 4000


class WorkflowError(RiskAtlasError):
    """A card or a transition that cannot be accepted (400, or the status it names)."""

    key = "workflow.error.generic"
    http_status = 400


@dataclass(frozen=True)
class Problem:
    """One problem of a card: its field, a message key and the message's values."""

    field: str
    key: str
    params: dict[str, Any]


def field_label(name: str, lang: str) -> str:
    """A card field's label on the form, in ``lang`` (a name the form lacks as it is)."""
    key = f"workflow.field.{name}"
    return translate(key, lang) if key in catalogue(lang) else name


def problem_text(problem: Problem, lang: str) -> str:
    """A problem's message (a field it names by its label), without record or file."""
    params = dict(problem.params)
    if isinstance(params.get("other"), str):
        params["other"] = field_label(params["other"], lang)
    return translate(problem.key, lang, **params)


class CardInvalidError(WorkflowError):
    """Every problem of a card at once (400), in the form's order of fields; the API adds
    them to its error as ``fields`` (:meth:`details`)."""

    key = "workflow.error.invalid"

    def __init__(self, problems: Iterable[Problem]) -> None:
        order = {name: i for i, name in enumerate(FORM_FIELDS)}
        self.problems = sorted(problems, key=lambda p: order.get(p.field, len(order)))
        super().__init__(self.key, count=len(self.problems))

    def fields(self, lang: str) -> list[dict[str, str]]:
        return [{"field": p.field, "label": field_label(p.field, lang), "code": p.key,
                 "message": problem_text(p, lang)} for p in self.problems]

    def details(self, lang: str) -> dict[str, Any]:
        return {"fields": self.fields(lang)}

    def render(self, lang: str = "en") -> str:
        sep = translate("workflow.problem.sep", lang)
        listed = "; ".join(f"{f['label']}{sep}{f['message']}" for f in self.fields(lang))
        return translate(self.key, lang, count=len(self.problems), problems=listed)


# --- building a card --------------------------------------------------------------------

def clean_fields(values: Mapping[str, Any],
                 problems: list[Problem] | None = None) -> dict[str, Any]:
    """The submitted fields, checked for names and types (text or numbers); blank → None.
    A field that fails is left out and noted in ``problems`` (without: raised at once)."""
    found: list[Problem] = [] if problems is None else problems
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in FORM_FIELDS:
            found.append(Problem(name, "workflow.problem.unknown_field", {}))
            continue
        if (value is not None and not isinstance(value, str | int | float)) \
                or isinstance(value, bool):
            found.append(Problem(name, "workflow.problem.bad_value", {}))
            continue
        if isinstance(value, str):
            value = value.strip() or None
            if value is not None and len(value) > MAX_TEXT:
                found.append(Problem(name, "workflow.problem.too_long", {"max": MAX_TEXT}))
                continue
        out[name] = value
    if problems is None and found:
        raise CardInvalidError(found)
    return out


def clean_unknown(values: Any, problems: list[Problem] | None = None) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list) or any(v not in UNKNOWN_IMPACTS for v in values):
        problem = Problem("unknown", "workflow.problem.bad_unknown",
                          {"impacts": ", ".join(UNKNOWN_IMPACTS)})
        if problems is None:
            raise CardInvalidError([problem])
        problems.append(problem)
        return []
    return sorted(set(values))


def _record_problems(issues: Sequence[QualityIssue]) -> list[Problem]:
    """The importers' issues of a card as problems, one per field: a value kept out for
    want of another field (a month without its year) is not listed when that field is,
    nor the sum of victims and affected when one of them is."""
    found = [Problem(i.field, i.rule, dict(i.params)) for i in issues]
    fields = {p.field for p in found if p.key != "record.needs_field"}
    out: dict[str, Problem] = {}
    for p in found:
        if p.key == "record.needs_field" and p.params.get("other") in fields:
            continue
        if p.field == "directly_affected" and fields & {"victims", "affected"}:
            continue
        out.setdefault(p.field, p)
    return list(out.values())


def build_card(crosswalk: Any, native_key: str, fields: Mapping[str, Any],
               unknown: list[str], *, status: str, author: str,
               problems: list[Problem] | None = None,
               given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The canonical row of a web card, through the importers' DesInventar semantics and
    :class:`RecordBuilder`. Each value an import would not take as read is a problem, in
    ``problems`` (without: :class:`CardInvalidError` at once). ``given``: the fields as
    the author gave them, kept as the card's raw row (default ``fields``)."""
    row: dict[str, Any] = {CANONICAL_TO_CARD[k]: v for k, v in fields.items()
                           if k in CANONICAL_TO_CARD}
    for impact in unknown:
        row[_FLAG_OF[impact]] = "-1"
    values, unknown_impacts = card_values(row)
    for name, value in fields.items():  # fields DesInventar cards do not have
        if name not in CANONICAL_TO_CARD:
            values[name] = value
    values.update(native_key=native_key, approval_status=status, recorded_by=author)
    # every value is read as an import reads it; what an import would flag is refused,
    # all problems together (a fraction in a count too, instead of rounding it)
    builder = RecordBuilder(source_key=SOURCE_KEY, source_file=SOURCE_FILE, crosswalk=crosswalk,
                            policy=QualityPolicy(fractional="blank"))
    kept = fields if given is None else given
    raw: dict[str, Any] = {k: kept[k] for k in FORM_FIELDS if kept.get(k) is not None}
    if unknown:
        raw["unknown"] = unknown
    card = builder.build(values, row=1, record_ref=native_key, raw=raw,
                         unknown=unknown_impacts)
    found = _record_problems(card.pop(ISSUES_KEY, []))
    if problems is None and found:
        raise CardInvalidError(found)
    if problems is not None:
        problems += [p for p in found if p.field not in {q.field for q in problems}]
    return card
