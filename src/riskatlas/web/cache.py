"""A response cache for anonymous GET requests, invalidated by any change to the store.

Public dashboards answer the same questions over and over, and the answers change only
when an import or a web edit changes the store. The cache key is the store's file
signature (size and modification time of the file and its WAL), the path, the sorted query
string and the reader's language; only requests without credentials of any kind (no
Cookie and no Authorization header at all, however often repeated) are served from it, and
only 200 answers that set no cookie are kept, and only when read from a copy of the store
as new as the key (a change by another process reaches this worker's copy up to a second
later: an answer from the older copy is sent, not kept). Identical requests that arrive
together wait for the first one instead of running the same analysis twenty times (single
flight). Entries live in a size-bounded LRU.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from riskatlas.i18n import normalize_language
from riskatlas.web.snapshot import Snapshots, store_signature

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BYTES = 64 * 1024 * 1024


class ResponseCache:
    """ASGI middleware: cached answers for anonymous GETs (``X-RiskAtlas-Cache: hit``)."""

    def __init__(self, app: ASGIApp, db: Path, *, max_bytes: int = MAX_BYTES,
                 snapshots: Snapshots | None = None) -> None:
        self.app = app
        self.db = db
        self.snapshots = snapshots  # the copies requests read (None: the store itself)
        self.max_bytes = max_bytes
        self.entries: OrderedDict[tuple[Any, ...], tuple[int, list[Any], bytes]] = OrderedDict()
        self.size = 0
        self.flights: dict[tuple[Any, ...], asyncio.Lock] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = self._key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        lock = self.flights.setdefault(key, asyncio.Lock())
        async with lock:  # identical requests run once; the others read the result
            hit = self.entries.get(key)
            if hit is None:
                hit = await self._fill(key, scope, receive, send)
                if hit is None:  # not cacheable: already sent
                    return
                label = b"miss"
            else:
                self.entries.move_to_end(key)
                label = b"hit"
        self.flights.pop(key, None)
        status, headers, body = hit
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, (b"x-riskatlas-cache", label)]})
        await send({"type": "http.response.body", "body": body})

    def _key(self, scope: Scope) -> tuple[Any, ...] | None:
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        names = [name.lower() for name, _ in scope["headers"]]
        if b"authorization" in names or b"cookie" in names:  # any credential, any cookie
            return None
        headers = dict(scope["headers"])
        path = scope["path"]
        if path.startswith(("/static", "/login", "/cards", "/card", "/admin", "/upload",
                            "/download")):
            return None
        query = "&".join(sorted(scope.get("query_string", b"").decode("latin-1").split("&")))
        lang = normalize_language(headers.get(b"accept-language", b"").decode("latin-1"))
        return (self._signature(), path, query, lang)

    def _signature(self) -> tuple[Any, ...]:
        return store_signature(self.db)

    def _current(self, before: Any, key: tuple[Any, ...]) -> bool:
        """Whether the request read a copy as new as the key's store: the copy served
        when it began was, or there was none and the one it made is (the first copy)."""
        if self.snapshots is None:
            return True
        return before == key[0] or (before is None and self.snapshots.signature == key[0])

    async def _fill(self, key: tuple[Any, ...], scope: Scope, receive: Receive,
                    send: Send) -> tuple[int, list[Any], bytes] | None:
        """Run the app, capturing its answer; keep it when cacheable, else pass it on."""
        before = None if self.snapshots is None else self.snapshots.signature
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        headers = list(start.get("headers", []))
        if start.get("status") != 200 or not self._current(before, key) \
                or any(k.lower() == b"set-cookie" for k, _ in headers):
            await send({"type": "http.response.start", "status": start.get("status", 500),
                        "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return None
        self.entries[key] = (200, headers, body)
        self.size += len(body)
        while self.size > self.max_bytes and self.entries:
            _, (_, _, old) = self.entries.popitem(last=False)
            self.size -= len(old)
        return self.entries[key]
