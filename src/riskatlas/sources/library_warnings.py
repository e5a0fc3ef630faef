"""Warnings raised while a file is read become notes of the import, in the user's language,
instead of raw Python warnings on the terminal: the libraries' remarks about the file
(pyshp's header and size checks, openpyxl's and calamine's workbook remarks), and the
readers' own :class:`DataNote` (a truncated table, a repeated column), which code deep in
a reader raises without holding the import batch."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# Warnings about the code rather than the data stay Python warnings (for developers and tests).
_CODE_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ResourceWarning,
                  ImportWarning, SyntaxWarning)


class DataNote(UserWarning):
    """A remark of a reader about the data: the message ``key`` of the catalogues and its
    parameters (the importer adds ``path``)."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key, self.params = key, params


def data_note(key: str, **params: Any) -> None:
    """Raise a :class:`DataNote` (it becomes a note of the import being read)."""
    warnings.warn(DataNote(key, **params), stacklevel=2)


def note_key(category: type[Warning]) -> str:
    """The catalogue key of a data warning: shapefile warnings have their own wording."""
    return "read.shapefile_warning" if category.__module__.startswith("shapefile") \
        else "read.library_warning"


def library_of(message: warnings.WarningMessage) -> str:
    """The library that warned: the module of its warning class, else of the warning's file."""
    module = message.category.__module__
    if module == "builtins":
        parts = message.filename.replace("\\", "/").split("/site-packages/", 1)
        module = parts[1].split("/", 1)[0] if len(parts) == 2 else "python"
    return module.split(".", 1)[0].removesuffix(".py")


@contextmanager
def warnings_as_notes(note: Callable[..., Any], path: str) -> Iterator[None]:
    """Turn each distinct data warning raised inside the block into ``note(key, path=…)``,
    with how many times it was raised; warnings about code are passed on unchanged."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen: Counter[tuple[str, str, str]] = Counter()
    own: dict[tuple[str, str], dict[str, Any]] = {}
    for message in caught:
        if isinstance(message.message, DataNote):
            params = {"path": path, **message.message.params}
            own.setdefault((message.message.key, repr(sorted(params.items()))), params)
            continue
        if issubclass(message.category, _CODE_WARNINGS):
            warnings.warn_explicit(message.message, message.category, message.filename,
                                   message.lineno, source=message.source)
            continue
        detail = " ".join(str(message.message).split())
        seen[(note_key(message.category), library_of(message), detail)] += 1
    for (key, library, detail), count in seen.items():
        note(key, path=path, library=library, detail=detail, count=count)
    for (key, _), params in own.items():
        note(key, **params)
