"""Data cards entered on the web: the card service's names, importable from here.

Creating, editing, the approval workflow and the audit log live in
:mod:`riskatlas.services.cards` (each change and its audit row in one transaction); the
routes (:mod:`riskatlas.web.routes_cards`) call it with the request's viewer.
"""

from __future__ import annotations

from riskatlas.services.audit import audit
from riskatlas.services.cards import (
    CREATORS,
    DATASET_FORMAT,
    DATASET_NAME,
    EDITABLE,
    EFFECT_FIELDS,
    EVENT_FIELDS,
    FORM_FIELDS,
    MAX_TEXT,
    NOTE_FIELDS,
    NUMBER_FIELDS,
    PLACE_FIELDS,
    REVIEWERS,
    SOURCE_FILE,
    SOURCE_KEY,
    TRANSITIONS,
    UNKNOWN_IMPACTS,
    CardInvalidError,
    CardNotFoundError,
    ConflictError,
    Problem,
    WorkflowError,
    allowed_transitions,
    build_card,
    checked_card,
    clean_fields,
    clean_unknown,
    create,
    edit,
    field_label,
    jsonable_card,
    last_reason,
    problem_text,
    transition,
)

__all__ = ["CREATORS", "DATASET_FORMAT", "DATASET_NAME", "EDITABLE", "EFFECT_FIELDS",
           "EVENT_FIELDS", "FORM_FIELDS", "MAX_TEXT", "NOTE_FIELDS", "NUMBER_FIELDS",
           "PLACE_FIELDS", "REVIEWERS", "SOURCE_FILE", "SOURCE_KEY", "TRANSITIONS",
           "UNKNOWN_IMPACTS", "CardInvalidError", "CardNotFoundError", "ConflictError",
           "Problem", "WorkflowError", "allowed_transitions", "audit", "build_card",
           "checked_card", "clean_fields", "clean_unknown", "create", "edit", "field_label",
           "jsonable_card", "last_reason", "problem_text", "transition"]
