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
WEIGHT_LIMIT = 64 * 2**20  # bytes of the values weighed (analysis results) per memo


class Memo:
    """``get(key, compute)``: the value of ``key``, computed on first use."""

    def __init__(self, limit: int = 4096, weight_limit: int = WEIGHT_LIMIT) -> None:
        self._values: OrderedDict[tuple[Hashable, ...], Any] = OrderedDict()
        self._flights: dict[tuple[Hashable, ...], threading.Lock] = {}
        self._weights: dict[tuple[Hashable, ...], int] = {}  # of the values weighed
        self._lock = threading.Lock()  # guards the dicts
        self.limit = limit
        self.weight_limit = weight_limit
        self.prefix: tuple[Hashable, ...] = ()

    def scoped(self, name: Hashable) -> Memo:
        """A view of the same values under a scope of its own."""
        child = Memo.__new__(Memo)
        child.__dict__.update(self.__dict__)
        child.prefix = (*self.prefix, name)
        return child

    def shared(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``get`` outside any scope: one value for every reader."""
        return self._get((key,), compute)

    def get(self, key: Hashable, compute: Callable[[], T],
            weigh: Callable[[T], int] | None = None) -> T:
        """Threads asking for the same missing key together wait for the first one.
        ``weigh(value)``: the value's size in bytes; the values weighed are kept within
        ``weight_limit`` together (least recently used out), and one above a quarter of
        it is not kept."""
        return self._get((*self.prefix, key), compute, weigh)

    def peek(self, key: Hashable) -> Any:
        """The value of ``key`` if it is kept (computed and not yet out), else None;
        never computes."""
        full = (*self.prefix, key)
        with self._lock:
            if full not in self._values:
                return None
            self._values.move_to_end(full)  # a value read is recently used
            return self._values[full]

    def _get(self, full: tuple[Hashable, ...], compute: Callable[[], T],
             weigh: Callable[[T], int] | None = None) -> T:
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
            weight = 0 if weigh is None else weigh(value)
            if weight > self.weight_limit // 4:
                return value
            with self._lock:
                self._values[full] = value
                if weight:
                    self._weights[full] = weight
                weighed = sum(self._weights.values()) if weight else 0
                while len(self._values) > self.limit or weighed > self.weight_limit:
                    old, _ = self._values.popitem(last=False)
                    weighed -= self._weights.pop(old, 0)
            return value
        finally:
            with self._lock:
                del self._flights[full]
            flight.release()
