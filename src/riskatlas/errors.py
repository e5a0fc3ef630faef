"""The exception hierarchy: one root, each error named for what went wrong.

Every error carries a message key from the catalogues (``data/messages``) and its
parameters, so the CLI and the web app can show it in the reader's language.
"""

from __future__ import annotations

from typing import Any


class RiskAtlasError(Exception):
    """Root of all RiskAtlas errors. ``key`` names the message in the catalogues."""

    key = "error.generic"

    def __init__(self, key: str | None = None, /, **params: Any) -> None:
        self.key = key or type(self).key
        self.params = params
        super().__init__(self.render("en"))

    def render(self, lang: str = "en") -> str:
        from riskatlas.i18n import translate

        return translate(self.key, lang, **self.params)


class SourceFormatError(RiskAtlasError, ValueError):
    """A file cannot be read as the format it claims or was detected as."""

    key = "error.source_format"


class RecordError(RiskAtlasError, ValueError):
    """One record of a file is invalid. Names the file, the record and the field."""

    key = "error.record"

    def __init__(
        self,
        key: str | None = None,
        /,
        *,
        path: str = "",
        record: str = "",
        field: str = "",
        **params: Any,
    ) -> None:
        self.path, self.record, self.field = path, record, field
        super().__init__(key, **params)

    def reason(self, lang: str = "en") -> str:
        """The reason alone, without the location."""
        from riskatlas.i18n import translate

        return translate(self.key, lang, **self.params)

    def render(self, lang: str = "en") -> str:
        from riskatlas.i18n import translate

        where = translate(
            "record.where", lang, path=self.path, record=self.record, field=self.field or "-"
        )
        return f"{where}: {self.reason(lang)}"


class UnknownHazardError(RiskAtlasError, KeyError):
    """A hazard code or reporting group that the taxonomy does not know."""

    key = "error.unknown_hazard"

    def __str__(self) -> str:  # KeyError would quote the message
        return self.render("en")


class MappingError(RiskAtlasError, ValueError):
    """A mapping file for national tables is invalid."""

    key = "error.mapping"


class StoreError(RiskAtlasError):
    """The store cannot be opened, or an operation on it failed."""

    key = "error.store"


class FetchError(RiskAtlasError, OSError):
    """A download failed or its checksum did not match."""

    key = "error.fetch"


class MethodsError(RiskAtlasError, ValueError):
    """A methods profile (thresholds and weights) is invalid."""

    key = "error.methods"


class AnalysisError(RiskAtlasError, ValueError):
    """An analysis cannot run with the arguments given (unknown metric, empty scope ...)."""

    key = "error.analysis"


class ReportError(RiskAtlasError, OSError):
    """A report cannot be written (no Chromium for the PDF, an unwritable folder ...)."""

    key = "error.report"


class CatalogueError(RiskAtlasError, ValueError):
    """The measure catalogue or the case library is invalid. Names file, entry and field."""

    key = "error.catalogue"
