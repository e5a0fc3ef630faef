"""From data cards to events.

DesInventar keeps one card per event per municipality. An event (an episode) is the cards
of one country and hazard group whose periods chain within the group's window (methods
``events.window_days``); a partial date widens its card's period to the whole month or
year. Where a chain runs:

- hazards that strike a country at once (``events.country_wide``: earthquakes, tsunamis,
  volcanoes, cyclones) chain across the whole country, so a national earthquake or
  cyclone is one event with its parts in every unit it touched;
- other hazards chain within a first-level unit, so a monsoon's floods across a country
  stay apart;
- a card with a source event identifier (GLIDE, an event name) chains across the whole
  country too.

Clustering is a chain: in date order, a card opens a new chain when it starts more than
the window after the latest period end of the earlier cards. A chain longer than the
group's maximum span (``events.max_span_days``) is cut into consecutive spans of that
length, so a season of cards never becomes one event. Within a chain, a GLIDE number makes
the event of that number (within the country and hazard group, whatever the dates) and an
event name keeps its cards apart from other names; cards without an identifier join the
identifier when their chain carries exactly one. Whether an event is intensive is decided
on the whole event (``intensive``), never on its part in one unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from riskatlas.analysis.methods import Methods
from riskatlas.analysis.scope import Scope, hazard_expr, without
from riskatlas.model.schema import IMPACT_FIELDS

if TYPE_CHECKING:  # Ibis loads on first query
    import ibis.expr.types as ir

SUMMED = tuple(f for f in IMPACT_FIELDS if f not in ("losses_local",))  # currencies differ
COUNTRY = "*"  # the chaining area of a card chained across its whole country
GLIDE, NAME = "glide:", "name:"  # prefixes of a card's source event identifier
# the columns events are formed from (with the scope's own, riskatlas.analysis.scope
# SCOPE_COLUMNS): a scope narrowed to them builds and compiles a far smaller expression
EVENT_COLUMNS = ("start_date", "start_month", "date_precision", "glide", "event_name",
                 "deaths", "houses_destroyed")


KEYS = ("k_country", "ev_hazard", "area", "k0", "k1", "tie")  # a card's period (below)
# what a card brings to the chains of its period
PERIOD_COLUMNS = ("day0", "day1", "window", "span", "ident")


def card_events(records: ir.Table, methods: Methods, keep: Sequence[str] = ()) -> ir.Table:
    """``record_id`` → ``event_id`` (+ the card's period in epoch days) for ``records``,
    with the columns ``keep`` of the cards (no join back to the cards needed)."""
    r = _with_events(_periods(records, methods))
    return r.select("record_id", "day0", "day1",
                    *(k for k in keep if k not in ("record_id", "day0", "day1", "event_id")),
                    "event_id")


def event_counts(records: ir.Table, methods: Methods, by: Sequence[str]) -> ir.Table:
    """Distinct events per ``by`` (columns of ``records``): those of :func:`card_events`,
    worked out over the distinct periods, identifiers and ``by`` of the cards (one pass
    over them), not card by card."""
    return counted(period_groups(records, methods, by), by)


def period_groups(records: ir.Table, methods: Methods, by: Sequence[str]) -> ir.Table:
    """The distinct periods, identifiers and ``by`` of the cards of ``records``: what
    :func:`counted` counts the events of. With ``start_year`` in ``by``, a year window's
    are its rows (a served copy keeps them for every window of a scope)."""
    r = _periods(records, methods)
    return r.group_by([*KEYS, *PERIOD_COLUMNS, *by]).aggregate()


def counted(groups: ir.Table, by: Sequence[str]) -> ir.Table:
    """Distinct events per ``by`` of the cards whose :func:`period_groups` are ``groups``
    (a row more or less of the same period changes nothing)."""
    g = _with_events(groups)
    return g.group_by(list(by)).aggregate(events=g.event_id.nunique())


def _periods(records: ir.Table, methods: Methods) -> ir.Table:
    """The cards with their period (:data:`KEYS`, and :data:`PERIOD_COLUMNS`)."""
    import ibis

    r = records.mutate(ev_hazard=hazard_expr(records, "group"))
    r = r.mutate(day0=r.start_date.epoch_days(), day1=_period_end(r),
                 window=_per_hazard(r.ev_hazard, methods.get("events.window_days"),
                                    methods.get("events.default_window_days")),
                 span=_per_hazard(r.ev_hazard, methods.get("events.max_span_days"),
                                  methods.get("events.default_max_span_days")),
                 ident=_identifier(r, methods))
    area = r.level0_code.fill_null("")
    r = r.mutate(area=ibis.ifelse(country_wide(r, methods) | r.ident.notnull(),
                                  ibis.literal(COUNTRY), area))
    # Chains are formed over the distinct periods of an area, not its cards: the cards that
    # share a period (a card per municipality of one event) come one after the other in
    # date order, and after the first none opens a chain (each starts within the window
    # of its own period's end), so they share its chain and piece. A card whose period is
    # incomplete, or ends more than the window before it starts, stays a key of its own
    # (``tie``: its record id), in its place in date order.
    shared = r.day0.notnull() & r.day1.notnull() & (r.day0 <= r.day1 + r.window)
    return r.mutate(k_country=r.country_iso3.fill_null(""), k0=r.day0.fill_null(0),
                    k1=r.day1.fill_null(0), tie=ibis.ifelse(shared, "", r.record_id))


def _chains(r: ir.Table) -> ir.Table:
    """Per period (:data:`KEYS`) of ``r`` (:func:`_periods`, or its distinct rows): its
    event's ``prefix`` and ``chained`` name, and ``shared_id``, the event of its cards
    without an identifier of their own."""
    import ibis

    keys = list(KEYS)
    d = r.group_by(keys).aggregate(day0=r.day0.min(), day1=r.day1.min(),
                                   window=r.window.min(), span=r.span.min(),
                                   lo=r.ident.min(), hi=r.ident.max())
    order = ["day0", "day1", "tie"]
    earlier = ibis.window(group_by=keys[:3], order_by=order, rows=(None, -1))
    d = d.mutate(prev_end=d.day1.max().over(earlier))
    opens = (d.prev_end.isnull() | d.day0.isnull()
             | (d.day0 > d.prev_end + d.window)).cast("int64")
    d = d.mutate(chain=opens.cumsum(group_by=keys[:3], order_by=order))
    # spans count from the chain's earliest sure start: a card dated to the month only may
    # have started on the month's last day. A chain's first day and a piece's identifiers
    # are aggregated per chain or piece and joined back: a window over them costs DuckDB
    # more (a fifth of Nepal's events over 9,991 periods)
    chain = [*keys[:3], "chain"]
    d = d.join(d.group_by(chain).aggregate(first=d.day1.min()), chain)
    piece = ((d.day0 - d.first) // d.span.clip(lower=1)).clip(lower=0)
    d = d.mutate(piece=piece.fill_null(0).cast("int64"))
    # the identifiers a piece of a chain carries, and its event's name without one: worked
    # out over the distinct periods, each card then only joins its period's
    whole = [*chain, "piece"]
    d = d.drop("lo", "hi").join(d.group_by(whole).aggregate(lo=d.lo.min(), hi=d.hi.max()),
                                whole)
    prefix = ibis.literal("").concat(d.k_country, "|", d.ev_hazard, "|")
    d = d.mutate(prefix=prefix,
                 chained=prefix.concat(d.area, "|", d.chain.cast("string"), ibis.ifelse(
                     d.piece > 0, "." + d.piece.cast("string"), "")))
    # a card without an identifier takes its piece's, when the piece carries only one: its
    # event is worked out once per period, and only a card with its own per card
    d = d.mutate(shared_id=_event_id(d, ibis.ifelse(d.lo == d.hi, d.lo, ibis.null("string"))))
    return d.select(*keys, "prefix", "chained", "shared_id")


def _with_events(r: ir.Table) -> ir.Table:
    """``r`` (:func:`_periods`, or its distinct rows) with each row's ``event_id``: its
    period joined to :func:`_chains`, a row with an identifier of its own named by it."""
    import ibis

    r = r.join(_chains(r), list(KEYS))
    return r.mutate(event_id=ibis.ifelse(r.ident.isnull(), r.shared_id,
                                         _event_id(r, r.ident)))


def _event_id(t: ir.Table, own: ir.StringValue) -> ir.StringValue:
    """The event of a card whose identifier is ``own`` (NULL: none) in the piece of a
    chain whose ``prefix`` and ``chained`` name are columns of ``t``."""
    import ibis

    return ibis.cases(
        (own.startswith(GLIDE), t.prefix.concat("glide|", own.substr(len(GLIDE)))),
        (own.startswith(NAME), t.chained.concat("|", own)),
        else_=t.chained)


def whole(scope: Scope) -> bool:
    """Whether ``scope`` (a :class:`~riskatlas.analysis.scope.Scope`) holds every card its
    events are formed over (no unit, hazard or climate filter): its cards and the basis of
    its events are then the same rows, and need not be joined to each other."""
    return scope.admin is None and scope.hazard is None and not scope.climate_only


def country_wide(r: ir.Table, methods: Methods) -> ir.BooleanValue:
    """True for cards whose hazard chains across the whole country (``events.country_wide``:
    reporting groups, and HIPs code prefixes for hazards inside a wider group)."""
    import ibis

    rule = methods.get("events.country_wide")
    hips = r.hips_code.fill_null("")
    out = r.ev_hazard.isin([str(g) for g in rule["groups"]]) if rule["groups"] else None
    for prefix in rule["hips"]:
        match = hips.startswith(str(prefix))
        out = match if out is None else out | match
    return ibis.literal(False) if out is None else out


def events(records: ir.Table, methods: Methods, basis: ir.Table | None = None,
           tags: ir.Table | None = None) -> ir.Table:
    """One row per event with cards in ``records``: hazard, period, cards, units and impacts
    of its cards in ``records``, and whether the whole event is intensive (methods
    ``intensive``). Events are formed over ``basis`` (default ``records``: pass the
    country and period without an admin or hazard filter so that an event crossing units
    stays whole), or given by ``tags`` (:func:`event_tags` of the scope, when at hand).
    ``level0_code`` / ``level0_name`` name the first-level unit of an event
    that lies in one (``""`` and empty when it spans ``level0_units`` > 1)."""
    import ibis

    if tags is not None:
        tagged = records.join(tags.select("record_id", "event_id", "day0", "day1"),
                              "record_id")
        flags = tags.select("event_id", "intensive").distinct()
    elif basis is None:  # the cards are the basis: tagged once, nothing joined back
        tagged = card_events(records, methods, keep=records.columns)
        flags = event_flags(tagged, methods)
    else:
        formed = card_events(basis, methods)
        tagged = records.join(formed, "record_id")
        flags = event_flags(basis.join(formed.select("record_id", "event_id"), "record_id"),
                            methods)
    agg: dict[str, Any] = {f: tagged[f].sum() for f in SUMMED}
    ev = tagged.group_by("event_id").aggregate(
        country_iso3=tagged.country_iso3.max(),
        hazard=hazard_expr(tagged, "group").max(),
        level0_code=tagged.level0_code.fill_null("").max(),
        level0_name=tagged.level0_name.max(),
        level0_units=tagged.level0_code.fill_null("").nunique(),
        glide=tagged.glide.max(),
        day_from=tagged.day0.min(), day_to=tagged.day1.max(),
        cards=tagged.count(),
        units=tagged.level1_code.fill_null(tagged.level0_code).nunique(),
        **agg)
    one = ev.level0_units == 1
    epoch = ibis.date(1970, 1, 1)
    ev = without(ev.mutate(
        level0_code=ibis.ifelse(one, ev.level0_code, ""),
        level0_name=ibis.ifelse(one, ev.level0_name, ibis.null("string")),
        start_date=_plus_days(epoch, ev.day_from).cast("date"),
        end_date=_plus_days(epoch, ev.day_to).cast("date")), "day_from", "day_to")
    return ev.join(flags, "event_id")


def event_tags(records: ir.Table, scope: Scope, methods: Methods) -> ir.Table:
    """Per card of the basis of ``scope``'s events (its country and period, whatever its
    unit, hazard or climate filter): ``record_id``, ``event_id``, the card's period
    (``day0``, ``day1``) and whether the whole event is ``intensive``. The same for every
    unit and hazard of a country and period: a served copy or a pipeline run works it out
    once (:meth:`riskatlas.analyses.Analyses.event_tags`) for the analyses that share it."""
    basis = scope.but(admin=None, hazard=None, climate_only=False).records(
        records, keep=EVENT_COLUMNS)
    tags = card_events(basis, methods).select("record_id", "event_id", "day0", "day1")
    flags = event_flags(basis.join(tags.select("record_id", "event_id"), "record_id"),
                        methods)
    return tags.join(flags, "event_id")


def event_flags(tagged: ir.Table, methods: Methods) -> ir.Table:
    """``event_id`` → ``intensive``, decided on all the cards of each event in ``tagged``
    (records with their ``event_id``)."""
    whole = tagged.group_by("event_id").aggregate(deaths=tagged.deaths.sum(),
                                                  houses_destroyed=tagged.houses_destroyed.sum())
    return whole.select("event_id", intensive=intensive_expr(whole, methods))


def intensive_expr(t: ir.Table, methods: Methods) -> ir.BooleanValue:
    """True where deaths or houses destroyed reach the intensive thresholds."""
    limits = methods.get("intensive")
    return ((t.deaths.fill_null(0) >= limits["deaths"])
            | (t.houses_destroyed.fill_null(0) >= limits["houses_destroyed"]))


def _period_end(r: ir.Table) -> ir.IntegerValue:
    """Last day (epoch days) of the card's known start period: the day, month or year."""
    import ibis

    next_month = ibis.ifelse(r.start_month == 12, ibis.date(r.start_year + 1, 1, 1),
                             ibis.date(r.start_year, r.start_month + 1, 1))
    return r.date_precision.cases(
        ("month", next_month.epoch_days() - 1),
        ("year", ibis.date(r.start_year + 1, 1, 1).epoch_days() - 1),
        else_=r.start_date.epoch_days())


def _per_hazard(hazard: ir.StringValue, days: Mapping[str, Any], default: Any
                ) -> ir.IntegerValue:
    """A number of days per hazard group, ``default`` for groups not listed."""
    import ibis

    if not days:
        return ibis.literal(int(default))
    return ibis.cases(*((hazard == g, int(d)) for g, d in days.items()), else_=int(default))


def _identifier(r: ir.Table, methods: Methods) -> ir.StringValue:
    """The card's source event identifier: ``glide:<GLIDE>``, else ``name:<event name>``
    (trimmed, lower case), else NULL (``events.use_glide``, ``events.use_event_name``)."""
    import ibis

    none = ibis.null("string")
    glide = (ibis.literal(GLIDE) + r.glide.strip().nullif("")
             if methods.get("events.use_glide") else none)
    name = (ibis.literal(NAME) + r.event_name.re_replace(r"\s+", " ").strip().lower().nullif("")
            if methods.get("events.use_event_name") else none)
    return glide.fill_null(name)


def _plus_days(date: ir.DateValue, days: ir.IntegerValue) -> ir.DateValue:
    return date + days.as_interval("D")
