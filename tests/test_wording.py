"""Numbers people read: trends per decade in two significant figures ("no trend" at 0) and
rank stability as a percentage of draws, in English and Traditional Chinese."""

from __future__ import annotations

import pytest

from riskatlas.advice.engine import Reason
from riskatlas.report.html import Text, per_decade, percent, reason_text


@pytest.mark.parametrize(("slope", "text"), [(0.00031, "+0.0031"), (1.234, "+12"),
                                              (-0.5, "−5"), (0.0, "0"), (12.345, "+120"),
                                              (-0.0449, "−0.45")])
def test_slopes_read_per_decade_in_two_significant_figures(slope, text):
    assert per_decade(slope) == text


def test_stability_is_a_percentage_of_draws():
    assert (percent(1.0), percent(0.987), percent(0.0)) == ("100 %", "99 %", "0 %")


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_trend_reasons_say_per_decade_and_no_trend_at_zero(lang):
    t = Text(lang)
    rising = reason_text(Reason("trend", "flood", {"series": "deaths", "direction": "increasing",
                                                   "slope": 0.00031, "p": 0.0004}), "X", t)
    flat = reason_text(Reason("trend", "flood", {"series": "deaths", "direction": "increasing",
                                                 "slope": 0.0, "p": 0.0004}), "X", t)
    assert "+0.0031" in rising and "+0.00" not in rising.replace("+0.0031", "")
    assert ("per decade" if lang == "en" else "每十年") in rising
    assert t("trend.no_trend") in flat and t("trend.increasing") not in flat
