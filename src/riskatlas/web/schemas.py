"""What the API takes and answers, with bounds on every parameter and body field: numbers
have a minimum and a maximum, texts a length, lists a size, objects a closed set of
properties. /openapi.json declares them, and a value beyond them answers 422 in the one
error shape (:mod:`riskatlas.web.errors`) before any handler runs. The importers' rules
(a month without a year, a count with a fraction given as text, …) still apply after: 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, create_model

from riskatlas.api import MIN_YEAR
from riskatlas.model.schema import APPROVAL_STATUSES, FIELDS_BY_NAME
from riskatlas.services.cards import FORM_FIELDS, MAX_TEXT, UNKNOWN_IMPACTS
from riskatlas.web.pages import MAX_PAGE

MAX_CODE = 64            # country, unit and dataset codes, statuses, metric names
MAX_TERM = 200           # hazard terms, searched text
MAX_ID = 2 ** 31 - 1     # dataset ids
MAX_RECORD_ID = 300
MAX_COUNT = 2 ** 53      # people, houses: beyond it a float is no longer exact
MAX_AMOUNT = 1e18        # losses in any currency, hectares, kilometres
MAX_YEAR = 3000
MAX_LIST = 20            # repeated query parameters (metrics)
Code = Annotated[str, Field(max_length=MAX_CODE)]


class ErrorDetail(BaseModel):
    code: str
    message: str
    status: int


class ErrorBody(BaseModel):
    error: ErrorDetail


class TableResult(BaseModel):
    meta: dict[str, Any]
    rows: list[dict[str, Any]]


class RecordsResult(TableResult):
    total: int
    page: int
    page_size: int
    pages: int


class CardResult(BaseModel):
    record: dict[str, Any]


class History(BaseModel):
    total: int
    rows: list[dict[str, Any]]


class Me(BaseModel):
    user: str | None
    role: str | None
    via: str | None


class UploadReport(BaseModel):
    file: str
    size: int
    files: list[dict[str, Any]]
    unmapped_hazards: list[str]
    unmapped_text: str


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, in the one error shape."""
    return {status: {"model": ErrorBody, "description": ERROR_TEXTS[status]}
            for status in statuses}


ERROR_TEXTS = {400: "Invalid arguments or card values", 401: "Not signed in",
               403: "The role may not do this", 404: "Not found",
               409: "The card's status does not allow this", 411: "Length required",
               413: "Upload too large", 422: "A parameter or field beyond its bounds",
               429: "Too many attempts", 503: "Store unavailable (an import is running)"}
READ_ERRORS = errors(400, 404, 422, 503)
WRITE_ERRORS = errors(400, 401, 403, 404, 409, 422, 503)


# --- query and path parameters ------------------------------------------------------------

Country = Annotated[str | None, Query(max_length=MAX_CODE, description="ISO3 country.")]
Admin = Annotated[str | None, Query(max_length=MAX_CODE,
                                    description="Admin unit code (any level).")]
Level = Annotated[int | None, Query(ge=0, le=2, description="Break down by admin level "
                                    "0, 1 or 2 (default: country).")]
Hazard = Annotated[str | None, Query(max_length=MAX_TERM, description="Reporting group, "
                                     "HIPs code or source term.")]
YearFrom = Annotated[int | None, Query(ge=1000, le=MAX_YEAR, description="First year.")]
YearTo = Annotated[int | None, Query(ge=1000, le=MAX_YEAR, description="Last year.")]
Dataset = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Dataset id.")]
Unapproved = Annotated[bool, Query(description="Count cards of every approval status (staff "
                                   "see drafts and cards under review); by default the "
                                   "methods profile's statuses (published) count.")]
By = Annotated[Literal["group", "hips", "term"], Query(description="Name hazards by group, "
                                                       "hips or term.")]
Metrics = Annotated[list[Code] | None, Query(max_length=MAX_LIST,
                                             description="Metric (repeat for several).")]
MetricName = Annotated[str | None, Query(max_length=MAX_CODE)]
Top = Annotated[int | None, Query(ge=1, le=1000)]
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]
PageSize = Annotated[int, Query(ge=1, le=1000)]
LangParam = Annotated[str | None, Query(alias="lang", max_length=16, description="en or "
                                        "zh-TW (default: Accept-Language).")]
RecordId = Annotated[str, Path(max_length=MAX_RECORD_ID)]
DateText = Annotated[str | None, Query(max_length=10, description="YYYY-MM-DD")]


# --- bodies -------------------------------------------------------------------------------

_CLOSED = ConfigDict(extra="forbid")
NumberText = Annotated[str, Field(max_length=MAX_CODE, description="A number written as text "
                                  "(\"1,234\"), read as an import reads it.")]
_TEXT_LIMITS = {"country_iso3": MAX_CODE, "level0_code": MAX_CODE, "level1_code": MAX_CODE,
                "level2_code": MAX_CODE, "glide": MAX_CODE, "hazard_term": MAX_TERM}
_NUMBER_BOUNDS: dict[str, tuple[type, float, float]] = {
    "latitude": (float, -90, 90), "longitude": (float, -180, 180),
    "start_year": (int, MIN_YEAR, MAX_YEAR), "start_month": (int, 0, 12),
    "start_day": (int, 0, 31), "duration_days": (int, 0, 36_600)}
_KIND_BOUNDS: dict[str, tuple[type, float, float]] = {
    "count": (int, 0, MAX_COUNT), "amount": (float, 0, MAX_AMOUNT)}


def _card_field(name: str) -> Any:
    """The type of one card field: text with its length, or a number within its bounds
    (or the number as text)."""
    field = FIELDS_BY_NAME.get(name)
    kind = field.kind if field else "count"  # victims, affected: DesInventar card counts
    bounds = _NUMBER_BOUNDS.get(name) or _KIND_BOUNDS.get(kind)
    if bounds is None:
        return Annotated[str, Field(max_length=_TEXT_LIMITS.get(name, MAX_TEXT))] | None
    number, low, high = bounds
    return Annotated[number, Field(ge=low, le=high)] | NumberText | None  # type: ignore[valid-type]


Impact = Literal[UNKNOWN_IMPACTS]  # type: ignore[valid-type]
if TYPE_CHECKING:
    class CardFields(BaseModel):
        """A data card's fields (made from the form's fields below)."""
else:
    CardFields = create_model(
        "CardFields", __config__=_CLOSED, __doc__="A data card's fields by canonical name "
        "(all optional; on PATCH, null clears one), and ``unknown``: impacts reported "
        "without a figure.", **{name: (_card_field(name), None) for name in FORM_FIELDS},
        unknown=(Annotated[list[Impact], Field(max_length=len(UNKNOWN_IMPACTS))] | None, None))


class TransitionBody(BaseModel):
    """A move in the workflow; sending a card back (needs_revision) needs a reason."""

    model_config = _CLOSED
    to: Literal[APPROVAL_STATUSES]  # type: ignore[valid-type]
    reason: Annotated[str, Field(max_length=MAX_TEXT)] | None = None


# --- links between sources (issue 17; web/routes_links.py) --------------------------------

LINK_STATUSES = ("proposed", "possible", "accepted", "rejected")  # services.links.STATUSES
LinkDataset = Annotated[str | None, Query(max_length=MAX_CODE, description="A dataset's id "
                                          "or source key (EMDAT, DI-NPL).")]
LinkFrom = Annotated[str | None, Query(alias="from", max_length=MAX_CODE, description="The "
                                       "first dataset: its id or source key (EMDAT).")]
LinkStatus = Annotated[Literal[LINK_STATUSES] | None,  # type: ignore[valid-type]
                       Query(description="proposed, possible, accepted or rejected.")]
LinkId = Annotated[int, Path(ge=1, le=2 ** 62, description="A link's id.")]


class LinkDecisionBody(BaseModel):
    """A decision on a link: ``accept`` (its events are one disaster) or ``reject``."""

    model_config = _CLOSED
    to: Literal["accept", "reject", "accepted", "rejected"]
    reason: Annotated[str, Field(max_length=MAX_TEXT)] | None = None


UPLOAD_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "additionalProperties": False,
        "properties": {"file": {"type": "string", "format": "binary"},
                       "country": {"type": "string", "maxLength": MAX_CODE},
                       "format": {"type": "string", "maxLength": MAX_CODE}}}}}}}
