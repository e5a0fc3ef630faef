"""Review per dataset: ``GET /api/review`` (the datasets awaiting review),
``POST /api/datasets/{dataset_id}/transition`` (one decision on all of a dataset's cards
in a status) and the reviewers' page ``/review`` with a form per decision.

Writes go through :mod:`riskatlas.web.writer` (one transaction) and
:mod:`riskatlas.services.review` (the workflow's rules, the audit log)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from riskatlas.api import Atlas
from riskatlas.errors import RiskAtlasError
from riskatlas.model.schema import APPROVAL_STATUSES
from riskatlas.services import cards, review
from riskatlas.web.access import refused, require, reviewer_form
from riskatlas.web.deps import Viewer, current_user, get_atlas, request_language, settings_of
from riskatlas.web.pages import render
from riskatlas.web.routes_cards import api_actor, login_redirect
from riskatlas.web.schemas import MAX_ID, WRITE_ERRORS, errors
from riskatlas.web.serialize import json_response
from riskatlas.web.writer import writing

AtlasDep = Annotated[Atlas, Depends(get_atlas)]
ViewerDep = Annotated[Viewer, Depends(current_user)]
DatasetId = Annotated[int, Path(ge=1, le=MAX_ID, description="A dataset's id.")]
Status = Literal[APPROVAL_STATUSES]  # type: ignore[valid-type]

api = APIRouter(prefix="/api", tags=["cards"])
pages = APIRouter(include_in_schema=False)


class DatasetDecision(BaseModel):
    """A decision on a dataset: every card in status ``from`` (a status or a list; default:
    every status but published that may become ``to``) becomes ``to``; sending cards back
    (needs_revision) needs a reason."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    to: Status
    reason: Annotated[str, Field(max_length=cards.MAX_TEXT)] | None = None
    source: Status | Annotated[list[Status], Field(max_length=len(APPROVAL_STATUSES))] | None \
        = Field(None, alias="from")


@api.get("/review", responses=errors(401, 403, 422, 503))
def review_list(atlas: AtlasDep, viewer: ViewerDep) -> Response:
    """The datasets with cards awaiting review (submitted or validated), with their counts
    per status, the authors of their cards (the uploader) and the decisions open to the
    caller (validators, admins)."""
    require(viewer, *cards.REVIEWERS)
    return json_response({"rows": review.awaiting_review(atlas.store, viewer)})


@api.post("/datasets/{dataset_id}/transition", responses=WRITE_ERRORS)
def transition_dataset(request: Request, viewer: ViewerDep, dataset_id: DatasetId,
                       body: DatasetDecision) -> Response:
    """Move every card of a dataset in status ``from`` (a status or a list; default: every
    status but published that may become ``to``) to ``to``, as the card transitions allow:
    validators and admins who did not upload or enter any of them; a reason is required
    to send cards back. Answers the decision: dataset, from, to, count."""
    api_actor(request, viewer)
    with writing(settings_of(request)) as atlas:
        decision = review.transition_dataset(atlas.store, viewer, dataset_id, body.to,
                                            body.reason, body.source)
    return json_response(decision)


@pages.get("/review", response_class=HTMLResponse)
def review_page(request: Request, atlas: AtlasDep, viewer: ViewerDep,
                moved: int | None = None, dataset: int | None = None,
                to: str | None = None) -> Response:
    """The reviewers' list of datasets awaiting review, a form per decision."""
    if viewer.anonymous:
        return login_redirect(request)
    require(viewer, *cards.REVIEWERS)
    done = None
    if moved is not None and dataset is not None and to in APPROVAL_STATUSES:
        done = {"count": moved, "dataset": dataset, "to": to}
    return _page(request, atlas, viewer, done=done)


def _page(request: Request, atlas: Atlas, viewer: Viewer, *, done: dict[str, Any] | None
          = None, message: str = "", status: int = 200) -> Response:
    return render(request, "review.html.j2", status=status,
                  datasets=review.awaiting_review(atlas.store, viewer), done=done,
                  message=message)


@pages.post("/review/transition", response_class=HTMLResponse)
async def review_decision(request: Request, atlas: AtlasDep, viewer: ViewerDep) -> Response:
    form, dataset_id = await reviewer_form(
        request, viewer, "dataset", lambda raw: review.DatasetNotFoundError(dataset=raw))
    to, reason = str(form.get("to") or ""), str(form.get("reason") or "")
    source = [str(v) for v in form.getlist("from")] or None

    def write() -> dict[str, Any]:
        with writing(settings_of(request)) as w:
            return review.transition_dataset(w.store, viewer, dataset_id, to, reason, source)

    try:
        decision = await run_in_threadpool(write)
    except RiskAtlasError as exc:
        return await run_in_threadpool(refused, exc, lambda message, status: _page(
            request, atlas, viewer, status=status, message=message),
            request_language(request), (400, 409))
    query = urlencode({"moved": decision["count"], "dataset": dataset_id, "to": to,
                       "lang": request_language(request)})
    return RedirectResponse(f"/review?{query}", status_code=303)
