"""The store: an embedded DuckDB file, read through Ibis, written in atomic batches."""

from riskatlas.store.store import Store

__all__ = ["Store"]
