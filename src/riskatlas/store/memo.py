"""Values computed once from a store that does not change while they are used.

The web app serves a private copy of the store per generation (see
:mod:`riskatlas.web.snapshot`); what requests compute from it (table schemas, the record
browser's totals and compiled queries, the list of countries) stays valid until the next
copy replaces it. A :class:`Memo` holds such values for one copy: bounded (least recently
used first out), shared by the request threads, and split into scopes for what differs
between readers (anonymous visitors see published cards only).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class Memo:
    """``get(key, compute)``: the value of ``key``, computed on first use."""

    def __init__(self, limit: int = 4096) -> None:
        self._values: OrderedDict[tuple[Hashable, ...], Any] = OrderedDict()
        self._flights: dict[tuple[Hashable, ...], threading.Lock] = {}
        self._lock = threading.Lock()  # guards both dicts
        self.limit = limit
        self.prefix: tuple[Hashable, ...] = ()

    def scoped(self, name: Hashable) -> Memo:
        """A view of the same values under a scope of its own."""
        child = Memo.__new__(Memo)
        child._values, child._flights, child._lock = self._values, self._flights, self._lock
        child.limit, child.prefix = self.limit, (*self.prefix, name)
        return child

    def shared(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``get`` outside any scope: one value for every reader."""
        return self._get((key,), compute)

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """Threads asking for the same missing key together wait for the first one."""
        return self._get((*self.prefix, key), compute)

    def _get(self, full: tuple[Hashable, ...], compute: Callable[[], T]) -> T:
        while True:
            with self._lock:
                if full in self._values:
                    self._values.move_to_end(full)
                    return self._values[full]  # type: ignore[no-any-return]
                flight = self._flights.get(full)
                if flight is None:
                    flight = self._flights[full] = threading.Lock()
                    flight.acquire()
                    break
            with flight:  # another thread computes it: wait, then look again
                pass
        try:
            value = compute()
            with self._lock:
                self._values[full] = value
                while len(self._values) > self.limit:
                    self._values.popitem(last=False)
            return value
        finally:
            with self._lock:
                del self._flights[full]
            flight.release()
