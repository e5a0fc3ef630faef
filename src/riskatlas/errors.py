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

    def __reduce__(self) -> tuple[Any, ...]:
        # import workers send errors back pickled: keep the key and the parameters (not just
        # the English text), so the message is still shown in the reader's language
        return _unpickle, (type(self), self.__dict__)


def _unpickle(cls: type[RiskAtlasError], state: dict[str, Any]) -> RiskAtlasError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error.render("en"))
    return error


class SourceFormatError(RiskAtlasError, ValueError):
    """A file cannot be read as the format it claims or was detected as."""

    key = "error.source_format"


class LimitError(RiskAtlasError, ValueError):
    """An input goes beyond one of the limits of :mod:`riskatlas.sources.limits` (a zip bomb,
    a giant value, a million columns ...). Names the file, where in it, and the limit.

    Not a :class:`SourceFormatError`: a file found in a folder that breaches a limit stops
    the import rather than being skipped as "not a format RiskAtlas reads".
    """

    key = "error.limit"

    def render(self, lang: str = "en") -> str:
        from riskatlas.i18n import translate

        where = self.params.get("where")
        place = translate(where, lang, **self.params) if where else ""
        return translate(self.key, lang, **{**self.params, "where": place})


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


class EmptyScopeError(AnalysisError):
    """No record is in the scope asked (an unknown country, a period with no records ...):
    an answer, not a crash. The web answers it with 404 and the error shape."""

    key = "analysis.empty_scope"
    http_status = 404


class ReportError(RiskAtlasError, OSError):
    """A report cannot be written (no Chromium for the PDF, an unwritable folder ...)."""

    key = "error.report"


class CatalogueError(RiskAtlasError, ValueError):
    """The measure catalogue or the case library is invalid. Names file, entry and field."""

    key = "error.catalogue"


class PluginError(RiskAtlasError):
    """An installed plug-in (entry points ``riskatlas.readers``, ``riskatlas.crosswalks``)
    cannot be loaded or gives something else than its group expects. Names the plug-in."""

    key = "error.plugin"
