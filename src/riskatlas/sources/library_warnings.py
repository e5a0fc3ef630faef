"""Warnings that the libraries reading a file raise about its contents (pyshp's header and
size checks, openpyxl's and calamine's workbook remarks) become notes of the import, in the
user's language, instead of raw Python warnings on the terminal."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# Warnings about the code rather than the data stay Python warnings (for developers and tests).
_CODE_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ResourceWarning,
                  ImportWarning, SyntaxWarning)


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
    for message in caught:
        if issubclass(message.category, _CODE_WARNINGS):
            warnings.warn_explicit(message.message, message.category, message.filename,
                                   message.lineno, source=message.source)
            continue
        detail = " ".join(str(message.message).split())
        seen[(note_key(message.category), library_of(message), detail)] += 1
    for (key, library, detail), count in seen.items():
        note(key, path=path, library=library, detail=detail, count=count)
