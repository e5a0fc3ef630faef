"""Compiled SQL kept per expression shape, for the DuckDB engine.

Ibis compiles every analysis query afresh (Ibis → sqlglot → SQL): 50–200 ms of Python a
query, most of a small country's web request and a large part of a big one's. The
queries of one analysis differ from one scope to the next only in their values: the
country code, the years of a window, dataset ids, and the in-memory tables (a scope's
observation periods, a copy's events) joined in. So the SQL is kept per *shape*: the
expression with those values replaced by placeholders (string literals, integer literals
of 16 bits or more, which is how years and ids arrive, and in-memory tables by position;
stored tables without the reader that holds them). A query whose shape was compiled
before gets that SQL with its own values written in, rendered as Ibis renders them
(sqlglot literals, quoted table names). A new shape is compiled with its placeholders and
kept only when filling it with the query's own values gives exactly the query's plain
compilation (else the shape is always compiled the plain way). Small integers, floats,
booleans and NULLs stay part of the shape (they often decide structure or are folded by
the compiler).

The expressions are untouched (Spark compiles them as before); only ``compile`` of one
DuckDB backend instance is wrapped (:func:`install`).

Templates are also kept across processes, in one file per Ibis and sqlglot version under
``$RISKATLAS_SQL_CACHE`` (default ``$XDG_CACHE_HOME/riskatlas``; ``off`` keeps none), as
Python keeps bytecode: a command run again (``riskatlas assess`` of the same country, a
restarted web worker) compiles none of the shapes met before. A shape is looked up there
by a digest of its key's text (a key whose text differs by process is never kept). A
command compiles a shape met once only once during its work; that shape's template (a
second compilation, once per shape and version) is made after the command ends, in a
forked process of its own, so a first run takes no longer. A server makes templates as
it goes (a shape's second query, or its warm-up) and saves them after its warm-up and
when it stops (:func:`for_server`, :func:`save_templates`).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import signal
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from riskatlas.analysis import submitted

SHAPES = 512  # shapes kept per process (SQL of a few KB to a few tens of KB each)
DEFERRED = 256  # shapes met once whose templates are made at exit (for the file)
_MARK = "riskatlas~slot~"  # placeholder strings and table names: _MARK + slot number + "~"
_INT_BASE = {"int16": 32_000, "int32": 2_100_000_000, "int64": 8_100_000_000_000_000_000}
_MAX_SLOTS = 700  # int16 placeholders stay below 32,767
FILE_FORMAT = 2  # of the templates file (in its name: another format is another file)
# text of a key that differs by process: a memory address, a generated table's name
_PER_PROCESS = re.compile(r"0x[0-9a-f]{6,}|ibis_[a-z_]*?(?:cached|memtable)_[a-z0-9]{20,}")


@dataclass(frozen=True)
class Slot:
    kind: str  # "string", "int" or "table" (a table's name)
    value: Any
    pattern: str  # how the placeholder reads in the compiled SQL (a regular expression)
    dtype: str = ""  # a literal's Ibis type


@dataclass(frozen=True)
class Template:
    """SQL split at its slots: ``parts[0] v[order[0]] parts[1] v[order[1]] …``."""

    parts: tuple[str, ...]
    order: tuple[int, ...]

    def fill(self, values: list[str]) -> str:
        out = [self.parts[0]]
        for slot, part in zip(self.order, self.parts[1:], strict=True):
            out += (values[slot], part)
        return "".join(out)


class Templates:
    """SQL of the shapes compiled in this process (bounded, least recently used out), and
    of those in the templates file ``path`` (None: none kept across processes)."""

    def __init__(self, limit: int = SHAPES, path: Path | None = None) -> None:
        self.limit = limit
        self.path = path
        self.located = path is not None  # False: the file is that of the environment
        self.deferring = True  # shapes met once made at exit (commands; not servers)
        self._shapes: OrderedDict[Any, Template | str | None] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0
        self._file: dict[str, Template] | None = None  # the file's templates, read once
        self._made: dict[str, Template] = {}  # templates made here, for the file
        self._deferred: list[Callable[[], None]] = []  # templates to make at exit
        self._at_exit = False  # finish registered

    def get(self, key: Any) -> Template | str | None:
        """The template of ``key``; None: the shape is compiled plainly; :data:`NEW`: never
        met; :data:`SEEN`: met once (a template is made at its second query: one-off
        shapes cost a single compilation)."""
        with self._lock:
            if key not in self._shapes:
                kept = self._from_file(key)
                if kept is not None:
                    self.hits += 1
                    self._shapes[key] = kept
                    self._trim()
                    return kept
                self.misses += 1
                self._shapes[key] = SEEN
                self._trim()
                return NEW
            self._shapes.move_to_end(key)
            found = self._shapes[key]
            if isinstance(found, Template):
                self.hits += 1
            else:
                self.misses += 1
            return found

    def peek(self, key: Any) -> Template | None:
        """``key``'s template, when one is kept (here or in the file); nothing counted."""
        with self._lock:
            found = self._shapes.get(key)
            if found is None or not isinstance(found, Template):
                found = self._from_file(key)
                if found is not None:
                    self._shapes[key] = found
                    self._trim()
            return found

    def _trim(self) -> None:
        while len(self._shapes) > self.limit:
            self._shapes.popitem(last=False)

    def put(self, key: Any, template: Template | None) -> None:
        digest = digest_of(key) if template is not None and self.path is not None else None
        with self._lock:
            self._shapes[key] = template
            self._trim()
            if digest is not None and template is not None:
                self._made[digest] = template

    def clear(self) -> None:
        with self._lock:
            self._shapes.clear()
            self._made.clear()
            self._deferred.clear()
            self._file = None
            self.hits = self.misses = 0

    @property
    def keeps_files(self) -> bool:
        return self.path is not None

    def _from_file(self, key: Any) -> Template | None:
        """``key``'s template in the file (read at the first lookup)."""
        digest = digest_of(key) if self.path is not None else None
        if self.path is None or digest is None:
            return None
        if self._file is None:
            self._file = read_templates(self.path)
        return self._file.get(digest)

    def defer(self, make: Callable[[], None]) -> None:
        """Make a template (for the file) when the process ends, not now: a shape met
        once costs one compilation during the work (at most :data:`DEFERRED` kept)."""
        with self._lock:
            if self.deferring and len(self._deferred) < DEFERRED:
                self._deferred.append(make)

    def finish_at_exit(self) -> None:
        """:meth:`finish` when the process exits (once)."""
        with self._lock:
            if self._at_exit:
                return
            self._at_exit = True
        atexit.register(self.finish)

    def finish(self, background: bool = True) -> None:
        """At exit: save the templates made; then make the deferred ones and save them, in
        a forked process of its own when ``background`` (the command ends at once; where
        there is no fork, or the file cannot be written, they are not made)."""
        self.save()
        with self._lock:
            deferred, self._deferred = self._deferred, []
        if not deferred or self.path is None or not _writable(self.path.parent):
            return
        if not background:
            self._make(deferred)
        elif hasattr(os, "fork") and os.fork() == 0:
            try:  # the child: holds nothing of the parent's (descriptors, signals, lock)
                os.setsid()
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.closerange(3, os.sysconf("SC_OPEN_MAX"))
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
                    signal.signal(sig, signal.SIG_DFL)
                signal.alarm(300)
                self._lock = threading.Lock()
                self._make(deferred)
            finally:
                os._exit(0)

    def _make(self, deferred: list[Callable[[], None]]) -> None:
        for make in deferred:
            with suppress(Exception):
                make()
        self.save()

    def save(self) -> None:
        """Add the templates made in this process to the file (newest kept, at most
        ``limit``); written whole and renamed into place; a file that cannot be written
        only costs the next process its compilations."""
        with self._lock:
            if self.path is None or not self._made:
                return
            made, self._made = self._made, {}
        kept = read_templates(self.path)
        for digest, template in made.items():
            kept.pop(digest, None)
            kept[digest] = template
        entries = list(kept.items())[-self.limit:]
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({
                "fixed": sorted(([d, v] for d, v in _FIXED), key=repr),
                "templates": {d: [list(t.parts), list(t.order)] for d, t in entries}}))
            os.replace(tmp, self.path)
        except OSError:
            with suppress(OSError):
                tmp.unlink()


def _writable(folder: Path) -> bool:
    with suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
    return os.access(folder, os.W_OK)


def digest_of(key: Any) -> str | None:
    """The digest of ``key``'s text, the same in every process; None when the text holds
    something that differs by process (a memory address, a generated table name): such a
    key is never kept in the file."""
    text = repr(key)
    return None if _PER_PROCESS.search(text) else hashlib.sha256(text.encode()).hexdigest()


def templates_path() -> Path | None:
    """The templates file of this Ibis and sqlglot (``$RISKATLAS_SQL_CACHE``: its folder,
    or ``off``); None: templates stay in the process."""
    setting = os.environ.get("RISKATLAS_SQL_CACHE", "")
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    try:
        from importlib.metadata import version

        folder = Path(setting) if setting else (
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "riskatlas")
        return folder / (f"sql-shapes-{FILE_FORMAT}-ibis{version('ibis-framework')}-"
                         f"sqlglot{version('sqlglot')}.json")
    except Exception:  # no home, no package metadata: nothing kept across processes
        return None


def read_templates(path: Path) -> dict[str, Template]:
    """The well-formed templates of the file at ``path`` (none when it is missing or
    unreadable), its literals that the compiler rewrites added to :data:`_FIXED` (they
    are part of keys)."""
    try:
        data = json.loads(path.read_bytes())
        _FIXED.update((str(d), v) for d, v in data.get("fixed", ())
                      if isinstance(v, str | int))
        found = data["templates"].items()
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}
    return {str(d): Template(tuple(t[0]), tuple(t[1])) for d, t in found
            if isinstance(t, list) and len(t) == 2 and isinstance(t[0], list)
            and isinstance(t[1], list) and len(t[0]) == len(t[1]) + 1
            and all(isinstance(p, str) for p in t[0])
            and all(type(o) is int and o >= 0 for o in t[1])}


def for_server() -> None:
    """This process serves requests: no shape is left for its exit (a server saves its
    templates itself, :func:`save_templates`, as its workers end by signal, not atexit)."""
    TEMPLATES.deferring = False


def save_templates() -> None:
    """Add this process's new templates to the file now."""
    TEMPLATES.save()


NEW, SEEN = "new", "seen"
TEMPLATES = Templates()  # its file is set when a backend is first wrapped (:func:`install`)
_THREAD = threading.local()  # .eager: templates made at a shape's first query


@contextmanager
def eager() -> Iterator[None]:
    """In this thread, make a shape's template at its first query (for work done ahead of
    requests, e.g. preparing a served copy: the shapes it meets are those requests meet)."""
    before = getattr(_THREAD, "eager", False)
    _THREAD.eager = True
    try:
        yield
    finally:
        _THREAD.eager = before
# literals the compiler rewrites (e.g. a date unit 'day' written DAY): never placeholders
_FIXED: set[tuple[str, Any]] = set()
_NO_DATA: Any = None  # one empty table proxy shared by every shape's in-memory tables


def _empty() -> Any:
    global _NO_DATA
    if _NO_DATA is None:
        import pandas as pd
        from ibis.formats.pandas import PandasDataFrameProxy

        _NO_DATA = PandasDataFrameProxy(pd.DataFrame())
    return _NO_DATA


class Shape:
    """One walk over an expression's nodes: ``key``, a flat hashable description of the
    expression with its liftable values left out (equal for the queries that differ only
    in them), the ``slots`` in walk order, and the placeholder of each lifted node
    (``op.replace(mapping)`` is the shape to compile, needed only for a new key)."""

    def __init__(self, op: Any) -> None:
        import ibis.expr.operations as ops

        self._ops = ops
        self.index: dict[Any, int] = {}
        self.entries: list[tuple[Any, ...]] = []
        self.slots: list[Slot] = []
        self.mapping: dict[Any, Any] = {}
        self.root = op
        self._walk(op)
        self.key = tuple(self.entries)

    def _walk(self, node: Any) -> int:
        found = self.index.get(node)
        if found is not None:
            return found
        entry = self._special(node)
        if entry is None:
            entry = (type(node), *(self._arg(a) for a in node.__args__))
        self.entries.append(entry)
        self.index[node] = len(self.entries) - 1
        return len(self.entries) - 1

    def _arg(self, arg: Any) -> Any:
        if isinstance(arg, self._ops.Node):
            return ("n", self._walk(arg))
        if isinstance(arg, tuple):
            return ("t", *(self._arg(a) for a in arg))
        if isinstance(arg, dict):  # Ibis' frozen mappings (names → values)
            return ("d", *((k, self._arg(v)) for k, v in arg.items()))
        if isinstance(arg, frozenset):  # in a fixed order: a key's text is the same in
            return ("f", *sorted((self._arg(a) for a in arg), key=repr))  # every process
        return arg

    def _special(self, node: Any) -> tuple[Any, ...] | None:
        """The entry of a literal or table that becomes a slot; None for other nodes."""
        ops = self._ops
        number = len(self.slots)
        if number >= _MAX_SLOTS:
            return None
        mark = f"{_MARK}{number}~"
        if isinstance(node, ops.Literal):
            dtype, value = node.dtype, node.value
            if (str(dtype), value) in _FIXED:
                return None
            if dtype.is_string() and isinstance(value, str):
                self.mapping[node] = ops.Literal(mark, dtype)
                self.slots.append(Slot("string", value, re.escape(f"'{mark}'"), str(dtype)))
            elif str(dtype) in _INT_BASE and type(value) is int:
                placeholder = _INT_BASE[str(dtype)] + number
                self.mapping[node] = ops.Literal(placeholder, dtype)
                self.slots.append(Slot("int", value, rf"(?<![\w.]){placeholder}(?![\w.])",
                                       str(dtype)))
            else:
                return None
            return (ops.Literal, "slot", dtype)
        if isinstance(node, ops.InMemoryTable):
            self.mapping[node] = ops.InMemoryTable(name=mark, schema=node.schema,
                                                   data=_empty())
        elif isinstance(node, ops.DatabaseTable):  # whichever reader holds it
            self.mapping[node] = node.copy(name=mark, source=None)
        else:
            return None
        self.slots.append(Slot("table", node.name, re.escape(f'"{mark}"')))
        return (type(node), "slot", tuple(node.schema.items()),
                getattr(node, "namespace", None))

    def op(self) -> Any:
        """The expression with placeholders (compiled once per key)."""
        return self.root.replace(self.mapping) if self.mapping else self.root


def template_of(sql: str, slots: list[Slot]) -> Template | None:
    """``sql`` (compiled from a shape) split at its slots; None when a placeholder is
    left in the text otherwise (the compiler changed it)."""
    if not slots:
        return Template((sql,), ())
    every = re.compile("|".join(f"(?P<s{i}>{s.pattern})" for i, s in enumerate(slots)))
    parts, order, last = [], [], 0
    for match in every.finditer(sql):
        parts.append(sql[last:match.start()])
        order.append(int(str(match.lastgroup)[1:]))
        last = match.end()
    parts.append(sql[last:])
    if any(_MARK in p.lower() for p in parts):
        return None
    return Template(tuple(parts), tuple(order))


def rendered(slots: list[Slot], dialect: Any) -> list[str]:
    """Each slot's value as the SQL text Ibis writes for it."""
    import sqlglot.expressions as sge

    out = []
    for s in slots:
        if s.kind == "string":
            out.append(sge.convert(s.value).sql(dialect=dialect))
        elif s.kind == "int":
            out.append(str(s.value))
        else:
            out.append(sge.to_identifier(s.value, quoted=True).sql(dialect=dialect))
    return out


def install(backend: Any, templates: Templates | None = None) -> None:
    """Wrap ``backend.compile`` (one DuckDB backend instance) with kept templates (default:
    this process's, with the file of :func:`templates_path`); other backends (a PostgreSQL
    store's) compile as before."""
    if getattr(backend, "name", None) != "duckdb":
        return
    if templates is None:
        templates = TEMPLATES
        if not TEMPLATES.located:  # the environment read when the first store opens
            TEMPLATES.path, TEMPLATES.located = templates_path(), True
    if getattr(backend, "_riskatlas_templates", None) is templates:
        return
    if templates.keeps_files:
        templates.finish_at_exit()
    plain: Callable[..., str] = backend.compile

    def compile(expr: Any, /, *, limit: Any = None, params: Any = None,
                pretty: bool = False, **kw: Any) -> str:
        given = getattr(_THREAD, "given", None)
        if given is not None:  # a recipe's query (analysis/recipes.py)
            return str(given[0])
        if params or pretty or kw:
            return plain(expr, limit=limit, params=params, pretty=pretty, **kw)
        return compiled(expr, limit, plain, backend.dialect, templates)

    backend.compile = compile
    backend._run_pre_execute_hooks = pre_execute_hooks(backend)
    submitted.install(backend)
    backend._riskatlas_templates = templates
    backend._riskatlas_plain = plain


def pre_execute_hooks(backend: Any) -> Callable[[Any], None]:
    """Ibis' hooks before a query (``_run_pre_execute_hooks``: warn of consumed Arrow
    readers, load the spatial extension, register UDFs and in-memory tables) with one walk
    over the expression instead of four: an expression of plain tables only registers its
    in-memory tables (what the hooks do for it); any other goes through Ibis' hooks."""
    import atexit as exits

    import ibis.common.exceptions as exc
    import ibis.expr.operations as ops

    plain: Callable[[Any], None] = backend._run_pre_execute_hooks
    other = (ops.ScalarUDF, ops.GeoSpatialUnOp, ops.GeoSpatialBinOp)
    readers = backend._record_batch_readers_consumed

    def hooks(expr: Any) -> None:
        given = getattr(_THREAD, "given", None)
        if given is not None:  # a recipe's query: the tables it names, not its expression's
            memtables = [t.op() for t in given[1]]
        else:
            found = expr.op().find((ops.PhysicalTable, *other))
            if any(isinstance(n, other) or n.name in readers for n in found):
                return plain(expr)
            memtables = [n for n in found if isinstance(n, ops.InMemoryTable)]
        names = [m.name for m in memtables]
        if len(set(names)) < len(names):  # as Ibis refuses them
            raise exc.IbisError(f"Duplicate in-memory table names: "
                                f"{sorted({n for n in names if names.count(n) > 1})}")
        for memtable in memtables:
            if memtable not in backend._memtables:
                backend._register_in_memory_table(memtable)
                backend._memtables.add(memtable)
                finalizer = backend._make_memtable_finalizer(memtable.name)
                if finalizer is not None:
                    exits.register(_quietly, finalizer)
        return None

    return hooks


def _quietly(finalizer: Callable[[], Any]) -> None:
    with suppress(Exception):
        finalizer()


@contextmanager
def given(sql: str, tables: list[Any]) -> Iterator[None]:
    """In this thread, the query run in this block is ``sql`` reading the in-memory
    ``tables`` (Ibis tables), whatever its expression: a recipe's call, whose expression
    (built once, its tables empty) gives only the result's schema (analysis/recipes.py)."""
    _THREAD.given = (sql, tables)
    try:
        yield
    finally:
        _THREAD.given = None


def template_for(backend: Any, expr: Any, shape: Shape) -> Template | None:
    """The template of ``expr`` (whose walk is ``shape``) on ``backend`` (installed),
    made now if none is kept; None when the compiler rewrote one of its literals (its
    shape is then another) or the shape stays plain."""
    templates: Templates = backend._riskatlas_templates
    key = (str(backend.dialect), shape.key, None)
    found = templates.peek(key)
    if found is None:
        plain = backend._riskatlas_plain
        make_template(expr, shape, None, plain(expr), plain, backend.dialect, templates)
        found = templates.peek(key)
    return found


def compiled(expr: Any, limit: Any, plain: Callable[..., str], dialect: Any,
             templates: Templates) -> str:
    """The SQL of ``expr``: its shape's template filled in, or compiled (and the shape's
    template kept when it reproduces this SQL exactly)."""
    try:
        shape = Shape(expr.op())
    except RecursionError:
        return plain(expr, limit=limit)
    key = (str(dialect), shape.key, limit)
    template = templates.get(key)
    if isinstance(template, Template):
        return template.fill(rendered(shape.slots, dialect))
    sql = plain(expr, limit=limit)
    if template == SEEN or (template == NEW and getattr(_THREAD, "eager", False)):
        # the second query of this shape (or the first, when eager): make its template
        make_template(expr, shape, limit, sql, plain, dialect, templates)
    elif template == NEW and templates.keeps_files:  # made at exit, for the file
        templates.defer(lambda: make_template(expr, shape, limit, sql, plain, dialect,
                                              templates))
    return sql


def make_template(expr: Any, shape: Shape, limit: Any, sql: str, plain: Callable[..., str],
                  dialect: Any, templates: Templates) -> None:
    """Compile ``shape`` (``expr`` with placeholders for its values) and keep the template
    when filling it with ``expr``'s values gives ``sql``, its plain compilation; else the
    shape stays plain."""
    key = (str(dialect), shape.key, limit)
    templates.put(key, None)
    for _ in range(3):  # learn the literals the compiler rewrites, then try again
        try:
            text = plain(shape.op().to_expr(), limit=limit)
        except Exception:  # a shape the compiler refuses stays plain
            return
        rewritten = {(s.dtype, s.value) for s in shape.slots if s.kind != "table"
                     and not re.search(s.pattern, text)}
        if not rewritten:
            made = template_of(text, shape.slots)
            if made is not None and made.fill(rendered(shape.slots, dialect)) == sql:
                templates.put(key, made)
            return
        _FIXED.update(rewritten)
        shape = Shape(expr.op())
        key = (str(dialect), shape.key, limit)
