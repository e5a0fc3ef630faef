"""How much of each source the other captures, per country, hazard group and year.

For two datasets' events (:mod:`riskatlas.linking.sides`) and the links between them
(proposed or accepted: the caller chooses), each event of either side is captured when a
link joins it to an event of the other side. Per country, the event's reporting group, its
start year and whether it is intensive (methods ``intensive``, the rule of the events
analysis, decided on the event in its own source): events and deaths in each source, those
captured by the other, and the shares.
"""

from __future__ import annotations

import pandas as pd

COLUMNS = ["country_iso3", "hazard_group", "year", "kind", "source", "events", "deaths",
           "captured_events", "captured_deaths", "share_events", "share_deaths"]
_EPOCH = pd.Timestamp("1970-01-01")


def completeness(left: pd.DataFrame, right: pd.DataFrame, links: pd.DataFrame, *,
                 names: tuple[str, str] = ("from", "to")) -> pd.DataFrame:
    """One row per country, hazard group, year, kind (intensive / extensive) and source
    (``names``) with events, deaths (dead + missing), what the other source captures of
    them and the shares (NaN when there is nothing to share)."""
    sides = ((left, set(links.from_event), names[0]), (right, set(links.to_event), names[1]))
    parts = []
    for events, linked, name in sides:
        frame = pd.DataFrame({
            "country_iso3": events.country_iso3.fillna("XXX"),
            "hazard_group": events.hazard_group.fillna("unmapped"),
            "year": (_EPOCH + pd.to_timedelta(events.day_from, unit="D")).dt.year,
            "kind": events.intensive.map({True: "intensive", False: "extensive"}),
            "source": name, "deaths": events.deaths.fillna(0.0),
            "captured": events.event_id.isin(linked)})
        frame["captured_deaths"] = frame.deaths.where(frame.captured, 0.0)
        parts.append(frame)
    data = pd.concat(parts, ignore_index=True)
    keys = ["country_iso3", "hazard_group", "year", "kind", "source"]
    out = data.groupby(keys, as_index=False).agg(
        events=("captured", "size"), deaths=("deaths", "sum"),
        captured_events=("captured", "sum"), captured_deaths=("captured_deaths", "sum"))
    out["share_events"] = out.captured_events / out.events
    out["share_deaths"] = (out.captured_deaths / out.deaths).where(out.deaths > 0)
    return out[COLUMNS].sort_values(keys).reset_index(drop=True)
