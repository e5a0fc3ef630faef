"""The Python API. The CLI and the web app are thin views over :class:`Atlas`."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from riskatlas.importer import FileResult, import_paths
from riskatlas.sources.registry import ReadOptions
from riskatlas.store.store import Store


class Atlas:
    """A RiskAtlas store with its operations. ``riskatlas.open(path)`` makes one."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> Atlas:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    def import_paths(self, paths: Sequence[str | Path], *, format: str | None = None,
                     options: ReadOptions | None = None) -> builtins.list[FileResult]:
        """Import files or folders; see :func:`riskatlas.importer.import_paths`."""
        return import_paths(self.store, [Path(p) for p in paths], format=format,
                            options=options)

    def table(self, name: str) -> Any:
        """An Ibis table of the store (records, datasets, admin_units, ...)."""
        return self.store.table(name)


def open(path: str | Path | None = None, *, read_only: bool = False,
         crosswalks: Sequence[Path] = ()) -> Atlas:
    """Open (or create) a store; ``path`` defaults to $RISKATLAS_DB or ./riskatlas.duckdb."""
    return Atlas(Store(path, read_only=read_only, crosswalks=crosswalks))
