"""Text in the reader's language for every renderer (report, web pages, CLI peers)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from riskatlas.analysis.results import hazard_name
from riskatlas.i18n import translate


class Text:
    """Translation and number formatting in the report's language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def __call__(self, key: str, **params: Any) -> str:
        return translate(key, self.lang, **params)

    def hazard(self, key: str | None) -> str:
        return hazard_name(key, self.lang) or "—"

    def metric(self, key: str) -> str:
        return self(f"metric.{key}")

    @staticmethod
    def num(value: Any, digits: int = 0) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return "—"
        return f"{value:,.{digits}f}"
