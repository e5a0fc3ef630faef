"""Analyses built once per shape of their arguments, for the DuckDB engine.

Building an analysis's Ibis expression costs more Python than running its SQL for most
scopes: a small country's profile page builds some 2,500 nodes (about half its time) for
queries DuckDB answers in milliseconds. The SQL is already kept per expression shape
(analysis/compiled.py), but finding the shape needs the expression. Calls of one builder
(``profile``, ``event_tags``, …) whose arguments differ only in the scope's values (its
country, unit, hazard, years and datasets) and in-memory tables (its periods, kept
events) build expressions of one shape, so a *recipe* per builder and argument shape
keeps that shape's SQL template and where each of its slots comes from: later calls fill
in their own values and run the SQL without building anything.

A recipe is learnt at a builder's first call with that argument shape (learning at the
second call, so that a one-off shape costs one build, left the realistic web mix building
a third of its queries twice before their first recipe: 11.4 s of builds in 175 requests
against 7.1 s), from two builds: the call's own and a *probe*, the same call with every
scope value replaced by a sentinel (a mixed-case string with spaces, a number of the
value's width) and every in-memory table by an empty one of its schema. It is kept only
when both builds have one shape, each slot that differs between them holds a sentinel in
the probe (as it is, or upper-cased, lower-cased or trimmed) and the call's own value
(likewise transformed) in the call, and the shape's template reproduces the call's SQL.
Else that argument shape is built every time. Values equal to each other (a one-year
window's two years, which the compiler makes one literal) are part of the argument shape
and share a sentinel, so such calls too have a recipe (a probe with two sentinels had
another shape: they were built every time). ``RISKATLAS_RECIPES=off`` builds every
time; ``check`` also builds every recipe's call and fails when the SQL differs (the
tests).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from typing import Any

from riskatlas.analysis import compiled
from riskatlas.analysis.methods import Methods
from riskatlas.analysis.scope import Scope

RECIPES = 256  # argument shapes kept per process
TRIES = 3  # calls of an argument shape that try to learn its recipe
LIFTED = ("country", "admin", "hazard", "year_from", "year_to", "dataset")  # scope values
_SENTINEL_INT = {"int16": 30_000, "int32": 2_000_000_000, "int64": 3_000_000_000}
# how a scope value may reach a literal: as it is, or as the filters normalise it
_TRANSFORMS: tuple[Callable[[str], str], ...] = (
    lambda s: s, str.upper, str.lower, str.strip, lambda s: s.strip().lower(),
    lambda s: s.strip().upper())


class Unsupported(Exception):
    """An argument a recipe cannot describe: the call is built as before."""


class RecipeMismatch(AssertionError):
    """``check`` mode: a recipe's SQL differs from the call's own."""


@dataclass(frozen=True)
class Recipe:
    result: Any  # an unbound table of the result's schema (no backend held)
    template: compiled.Template
    # per slot: ("const", rendered SQL) | ("value", leaf, transform) | ("table", leaf)
    sources: tuple[tuple[Any, ...], ...]
    methods: tuple[Methods, ...]  # the profiles in the key (by identity)


class Recipes:
    """Recipes per (builder, argument shape): bounded, least recently used out."""

    def __init__(self, limit: int = RECIPES) -> None:
        self.limit = limit
        self._kept: OrderedDict[Any, Recipe | str | None] = OrderedDict()
        self._tries: dict[Any, int] = {}  # failed lessons per key still SEEN
        self._lock = threading.Lock()
        self.hits = self.builds = 0

    def get(self, key: Any) -> Recipe | str | None:
        """The recipe of ``key``; :data:`NEW`: never met; :data:`SEEN`: met, not yet
        learnt; None: built every time."""
        with self._lock:
            found = self._kept.get(key, NEW)
            if found == NEW:
                self._put(key, SEEN)
            else:
                self._kept.move_to_end(key)
            return found

    def put(self, key: Any, recipe: Recipe | str | None) -> None:
        """Keep ``recipe`` for ``key``; :data:`SEEN`: learn it at the next call, up to
        :data:`TRIES` times (then built every time)."""
        with self._lock:
            if recipe == SEEN:
                tries = self._tries[key] = self._tries.get(key, 0) + 1
                if tries >= TRIES:
                    recipe = None
            if recipe != SEEN:
                self._tries.pop(key, None)
            self._put(key, recipe)

    def _put(self, key: Any, value: Recipe | str | None) -> None:
        self._kept[key] = value
        while len(self._kept) > self.limit:
            self._tries.pop(self._kept.popitem(last=False)[0], None)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._tries.clear()
            self.hits = self.builds = 0


NEW, SEEN = "new", "seen"
RECIPES_KEPT = Recipes()


def mode() -> str:
    """``on`` (default), ``off`` or ``check`` (``$RISKATLAS_RECIPES``)."""
    setting = os.environ.get("RISKATLAS_RECIPES", "on").lower()
    return setting if setting in ("off", "check") else "on"


def run(how: str, builder: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``builder(*args, **kwargs)``'s expression run by ``how`` (``to_pandas`` or
    ``to_pyarrow``): from the recipe of its argument shape when one is kept (nothing
    built), else built and run (and the shape's recipe learnt)."""
    setting = mode()
    try:
        described = Arguments(builder, args, kwargs)
    except (Unsupported, TypeError):  # TypeError: a value that cannot be part of a key
        described = None
    if described is None or described.backend is None or setting == "off":
        return _execute(builder(*args, **kwargs), how, described)
    key = described.key
    recipe = RECIPES_KEPT.get(key)
    if isinstance(recipe, Recipe) and all(
            m is k for m, k in zip(described.methods, recipe.methods, strict=True)):
        RECIPES_KEPT.hits += 1
        sql = recipe.template.fill(described.fill(recipe))
        if setting == "check":
            own = described.backend.compile(builder(*args, **kwargs).as_table())
            if own != sql:
                raise RecipeMismatch(f"{builder.__qualname__}: the recipe's SQL differs")
        with compiled.given(sql, described.tables(recipe)):
            return _execute(recipe.result, how, described)
    RECIPES_KEPT.builds += 1
    expr = builder(*args, **kwargs)
    out = _execute(expr, how, described)
    if recipe in (NEW, SEEN):
        RECIPES_KEPT.put(key, learn(described, expr, builder, args, kwargs))
    return out


def _execute(expr: Any, how: str, described: Arguments | None) -> Any:
    """``expr`` run by ``how`` on the backend of the arguments' stored tables, when they
    name one (a recipe's result, an unbound table, names none of its own; an expression
    of in-memory tables only, a window of kept sums, would else run on Ibis' default
    backend, one connection for every thread)."""
    if described is None or described.backend is None:
        return getattr(expr, how)()
    return getattr(described.backend, "execute" if how == "to_pandas" else how)(expr)


def learn(own: Arguments, expr: Any, builder: Callable[..., Any], args: tuple[Any, ...],
          kwargs: dict[str, Any]) -> Recipe | str | None:
    """The recipe of ``own``'s argument shape from ``expr`` (the call's build) and a probe
    build; None when the two do not show where every value comes from (built every
    time); :data:`SEEN` when the shape has no template yet (learnt at the next call)."""
    import ibis
    import ibis.expr.types as ir

    if not isinstance(expr, ir.Table):  # a column or a scalar: results of its own type
        return None
    try:
        p_args, p_kwargs, probe_leaves = own.probe()
        probe = builder(*p_args, **p_kwargs)
    except Exception:  # a builder that refuses sentinels stays built every time
        return None
    table = expr.as_table()
    shape, probed = compiled.Shape(table.op()), compiled.Shape(probe.as_table().op())
    if shape.key != probed.key:  # e.g. a value equal to a constant of the query: one node
        return SEEN
    sources: list[tuple[Any, ...]] = []
    dialect = own.backend.dialect
    for slot, seen, text in zip(shape.slots, probed.slots,
                                compiled.rendered(shape.slots, dialect), strict=True):
        source = _source(slot, seen, text, own.leaves, probe_leaves)
        if source is None:
            return None
        sources.append(source)
    template = compiled.template_for(own.backend, table, shape)
    if template is None:  # the compiler rewrote a literal: learnt at the next call
        return SEEN
    result = ibis.table(table.schema(), name="riskatlas_recipe")
    return Recipe(result, template, tuple(sources), own.methods)


def _source(slot: compiled.Slot, seen: compiled.Slot, text: str, leaves: list[Any],
            probe_leaves: list[Any]) -> tuple[Any, ...] | None:
    """Where ``slot`` (of the call) gets its value, from ``seen`` (the same slot of the
    probe): a constant, or a leaf of the arguments (as it is, or transformed)."""
    if slot.kind == "table":
        if slot.value == seen.value:
            return ("const", text)
        for i, leaf in enumerate(probe_leaves):
            if _is_table(leaf) and leaf.op().name == seen.value:
                return ("table", i) if leaves[i].op().name == slot.value else None
        return None
    if slot.value == seen.value:  # the same whatever the leaves
        return ("const", text)
    for i, leaf in enumerate(probe_leaves):
        if _is_table(leaf) or type(leaf) is not type(seen.value):
            continue
        if isinstance(leaf, int):
            if leaf == seen.value and leaves[i] == slot.value:
                return ("value", i, 0)
            continue
        for t, transform in enumerate(_TRANSFORMS):
            if transform(leaf) == seen.value:
                return ("value", i, t) if transform(leaves[i]) == slot.value else None
    return None


def _is_table(value: Any) -> bool:
    import ibis.expr.types as ir

    return isinstance(value, ir.Table)


class Arguments:
    """A call's arguments described: ``key`` (their shape: everything but the scope's
    values and in-memory tables), ``leaves`` (those values and tables, in order), the
    methods profiles they hold and the DuckDB backend of their stored tables (None: not
    one with kept SQL)."""

    def __init__(self, builder: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> None:
        self.leaves: list[Any] = []
        self.methods: tuple[Methods, ...] = ()
        self.backend: Any = None
        self._same: dict[int, int | None] = {}  # leaf → an earlier leaf it equals (or is)
        self._args, self._kwargs = args, kwargs
        self.key = (builder.__module__, builder.__qualname__,
                    tuple(self._part(a) for a in args),
                    tuple((k, self._part(v)) for k, v in sorted(kwargs.items())))

    def _part(self, a: Any) -> Any:
        import ibis.expr.operations as ops
        import ibis.expr.types as ir

        if a is None or isinstance(a, bool | int | float | str):
            return (type(a).__name__, a)
        if isinstance(a, Scope):
            return ("scope", *(self._scope_field(f.name, getattr(a, f.name))
                               for f in fields(Scope)))
        if isinstance(a, ir.Table):
            op = a.op()
            if isinstance(op, ops.InMemoryTable):  # one table twice: one node (a CTE)
                same = next((i for i, t in enumerate(self.leaves)
                             if _is_table(t) and t.op() is op), None)
                self._same[len(self.leaves)] = same
                self.leaves.append(a)
                return ("memtable", op.schema, same)
            if isinstance(op, ops.DatabaseTable) and getattr(
                    op.source, "_riskatlas_templates", None) is not None:
                if self.backend not in (None, op.source):
                    raise Unsupported("tables of two backends")
                self.backend = op.source
                return ("table", op.name, op.namespace, op.schema)
            raise Unsupported("a table expression")
        if isinstance(a, Methods):
            self.methods = (*self.methods, a)
            return ("methods", id(a))
        if isinstance(a, list | tuple):
            return (type(a).__name__, *(self._part(x) for x in a))
        raise Unsupported(type(a).__name__)

    def _scope_field(self, name: str, value: Any) -> Any:
        if name == "period_table":
            return None if value is None else self._part(value)
        if name not in LIFTED:
            hash(value)  # a key part
            return value
        return self._lift(value)

    def _lift(self, value: Any) -> Any:
        if isinstance(value, tuple):
            return ("tuple", *(self._lift(v) for v in value))
        if not _liftable(value):
            return (type(value).__name__, value)
        # a value equal to an earlier one (a one-year window) may be one node of the
        # expression: its own shape, probed with the earlier value's sentinel
        same = next((i for i, v in enumerate(self.leaves)
                     if not _is_table(v) and type(v) is type(value) and v == value), None)
        self._same[len(self.leaves)] = same
        self.leaves.append(value)
        kind = "str" if isinstance(value, str) else _width(value)
        return kind if same is None else (kind, same)

    def probe(self) -> tuple[tuple[Any, ...], dict[str, Any], list[Any]]:
        """The arguments with every leaf a sentinel, and those sentinels in order."""
        sentinels: list[Any] = []
        for i, leaf in enumerate(self.leaves):
            same = self._same[i]
            if same is not None:
                sentinels.append(sentinels[same])
            elif _is_table(leaf):
                sentinels.append(_empty_like(leaf))
            elif isinstance(leaf, str):
                sentinels.append(f" RiskAtlas~Probe{i}~x ")
            else:
                sentinels.append(_SENTINEL_INT[_width(leaf)] + i)
                if _width(sentinels[-1]) != _width(leaf):
                    raise Unsupported("too many values")
        swap = _Swap(sentinels)
        args = tuple(swap.arg(a) for a in self._args)
        kwargs = {k: swap.arg(self._kwargs[k]) for k in sorted(self._kwargs)}  # as the key
        return args, kwargs, sentinels

    def fill(self, recipe: Recipe) -> list[str]:
        """The SQL text of every slot of ``recipe`` for these arguments."""
        import sqlglot.expressions as sge

        dialect = self.backend.dialect
        out = []
        for source in recipe.sources:
            if source[0] == "const":
                out.append(source[1])
            elif source[0] == "table":
                name = self.leaves[source[1]].op().name
                out.append(sge.to_identifier(name, quoted=True).sql(dialect=dialect))
            else:
                value = self.leaves[source[1]]
                out.append(str(value) if isinstance(value, int) else
                           sge.convert(_TRANSFORMS[source[2]](value)).sql(dialect=dialect))
        return out

    def tables(self, recipe: Recipe) -> list[Any]:
        """The in-memory tables the recipe's SQL reads, for the backend to register."""
        return [self.leaves[s[1]] for s in recipe.sources if s[0] == "table"]


class _Swap:
    """The arguments again, their leaves replaced by ``sentinels`` in the same order."""

    def __init__(self, sentinels: list[Any]) -> None:
        self._next: Iterator[Any] = iter(sentinels)

    def arg(self, a: Any) -> Any:
        import ibis.expr.operations as ops
        import ibis.expr.types as ir

        if isinstance(a, Scope):  # the leaves in the order of Arguments._part
            changes: dict[str, Any] = {}
            for f in fields(Scope):
                value = getattr(a, f.name)
                if f.name in LIFTED:
                    changes[f.name] = self._lifted(value)
                elif f.name == "period_table" and value is not None:
                    changes[f.name] = self.arg(value)
            return replace(a, **changes)
        if isinstance(a, ir.Table) and isinstance(a.op(), ops.InMemoryTable):
            return next(self._next)
        if isinstance(a, list | tuple):
            return type(a)(self.arg(x) for x in a)
        return a

    def _lifted(self, value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(self._lifted(v) for v in value)
        return next(self._next) if _liftable(value) else value


def _liftable(value: Any) -> bool:
    """Whether a scope value is a leaf (a slot of the SQL): a non-empty string (filters
    skip an empty one), or a number wide enough to be a slot (small ones stay part of the
    shape)."""
    if isinstance(value, str):
        return bool(value)
    return (isinstance(value, int) and not isinstance(value, bool)
            and _width(value) in _SENTINEL_INT)


def _width(value: int) -> str:
    """The integer type Ibis gives a literal of ``value``."""
    import ibis.expr.datatypes as dt

    return str(dt.infer(value))


def _empty_like(table: Any) -> Any:
    import ibis

    schema = table.schema()
    return ibis.memtable(schema.to_pyarrow().empty_table(), schema=schema)

