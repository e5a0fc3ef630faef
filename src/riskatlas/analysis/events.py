"""From data cards to events.

DesInventar keeps one card per event per municipality. Cards of the same hazard group in
the same first-level unit belong to one event when their start periods lie within the
group's window (methods ``events.window_days``). A partial date widens its card's period
to the whole month or year. Cards that carry a GLIDE number form the event of that number.
Clustering is a chain: a card opens a new event when it starts more than the window after
the latest period end of the earlier cards in its partition.
"""

from __future__ import annotations

from typing import Any

from riskatlas.analysis.methods import Methods
from riskatlas.analysis.scope import hazard_expr
from riskatlas.model.schema import IMPACT_FIELDS

SUMMED = tuple(f for f in IMPACT_FIELDS if f not in ("losses_local",))  # currencies differ


def card_events(records: Any, methods: Methods) -> Any:
    """``record_id`` → ``event_id`` (+ the card's period in epoch days) for ``records``."""
    import ibis

    r = records.mutate(ev_hazard=hazard_expr(records, "group"),
                       glide_key=records.glide.strip().nullif(""))
    day0 = r.start_date.epoch_days()
    next_month = ibis.ifelse(r.start_month == 12, ibis.date(r.start_year + 1, 1, 1),
                             ibis.date(r.start_year, r.start_month + 1, 1))
    day1 = (r.date_precision.cases(
        ("month", next_month.epoch_days() - 1),
        ("year", ibis.date(r.start_year + 1, 1, 1).epoch_days() - 1),
        else_=day0))
    window = ibis.cases(*((r.ev_hazard == g, days) for g, days in
                          methods.get("events.window_days").items()),
                        else_=methods.get("events.default_window_days"))
    use_glide = bool(methods.get("events.use_glide"))
    by_glide = r.glide_key.notnull() if use_glide else ibis.literal(False)
    r = r.mutate(day0=day0, day1=day1, window=window, by_glide=by_glide)
    part = ["country_iso3", "ev_hazard", "level0_code", "by_glide"]
    order = ["day0", "day1", "record_id"]
    earlier = ibis.window(group_by=part, order_by=order, rows=(None, -1))
    r = r.mutate(prev_end=r.day1.max().over(earlier))
    opens = (r.prev_end.isnull() | r.day0.isnull()
             | (r.day0 > r.prev_end + r.window)).cast("int64")
    r = r.mutate(seq=opens.cumsum(group_by=part, order_by=order))
    chained = ibis.literal("").concat(r.country_iso3, "|", r.ev_hazard, "|",
                                      r.level0_code.fill_null(""), "|", r.seq.cast("string"))
    glide = ibis.literal("").concat(r.country_iso3, "|glide|", r.glide_key)
    return r.select("record_id", "day0", "day1",
                    event_id=ibis.ifelse(r.by_glide, glide, chained))


def events(records: Any, methods: Methods) -> Any:
    """One row per event: hazard, first-level unit, period, cards, units and impacts, and
    whether it is intensive (methods ``intensive``)."""
    import ibis

    tagged = records.join(card_events(records, methods), "record_id")
    agg: dict[str, Any] = {f: tagged[f].sum() for f in SUMMED}
    ev = tagged.group_by("event_id").aggregate(
        country_iso3=tagged.country_iso3.max(),
        hazard=hazard_expr(tagged, "group").max(),
        level0_code=tagged.level0_code.max(),
        level0_name=tagged.level0_name.max(),
        glide=tagged.glide.max(),
        day_from=tagged.day0.min(), day_to=tagged.day1.max(),
        cards=tagged.count(),
        units=tagged.level1_code.fill_null(tagged.level0_code).nunique(),
        **agg)
    epoch = ibis.date(1970, 1, 1)
    return ev.mutate(
        start_date=_plus_days(epoch, ev.day_from).cast("date"),
        end_date=_plus_days(epoch, ev.day_to).cast("date"),
        intensive=intensive_expr(ev, methods)).drop("day_from", "day_to")


def intensive_expr(t: Any, methods: Methods) -> Any:
    """True where deaths or houses destroyed reach the intensive thresholds."""
    limits = methods.get("intensive")
    return ((t.deaths.fill_null(0) >= limits["deaths"])
            | (t.houses_destroyed.fill_null(0) >= limits["houses_destroyed"]))


def _plus_days(date: Any, days: Any) -> Any:
    return date + days.as_interval("D")
