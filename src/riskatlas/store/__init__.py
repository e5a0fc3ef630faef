"""The store: an embedded DuckDB file, read through Ibis, written in atomic batches."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from riskatlas.store.store import Store

__all__ = ["Store"]


def __getattr__(name: str) -> Any:
    if name == "Store":  # imported lazily: readers use store.batch without DuckDB
        from riskatlas.store.store import Store

        return Store
    raise AttributeError(name)
