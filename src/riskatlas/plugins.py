"""Plug-ins: installed packages extend RiskAtlas through entry points, and the built-in
parts register the same way (``pyproject.toml``):

- ``riskatlas.readers``: each entry point names a :class:`~riskatlas.sources.registry.Reader`
  (its name is the reader's format), e.g. ``desinventar-xml =
  "riskatlas.sources.desinventar_xml:READER"``;
- ``riskatlas.crosswalks``: each names crosswalk CSV files (a file, a list of files, or a
  function returning them; :class:`pathlib.Path` or :mod:`importlib.resources` files), read
  after the built-in ones and before the user's ``--crosswalk`` files.

RiskAtlas's own entry points come first, then those of other distributions by name (and
readers are then tried in their ``Reader.order``). A plug-in that cannot be loaded, or
gives something else than its group expects, is a :class:`~riskatlas.errors.PluginError`
naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from riskatlas.errors import PluginError

READERS = "riskatlas.readers"
CROSSWALKS = "riskatlas.crosswalks"
OWN_DISTRIBUTION = "riskatlas"


@dataclass(frozen=True)
class Plugin:
    """One entry point of a group, and the distribution that declares it."""

    group: str
    name: str
    value: str  # module:attribute
    dist: str  # the distribution's name ("-" when unknown)
    load: Callable[[], Any]

    @property
    def builtin(self) -> bool:
        return _normal(self.dist) == OWN_DISTRIBUTION

    def error(self, key: str, **params: Any) -> PluginError:
        """An error naming this plug-in."""
        return PluginError(key, group=self.group, name=self.name, value=self.value,
                           dist=self.dist, **params)

    def object(self) -> Any:
        """What the entry point names; an error naming the plug-in if it cannot load."""
        try:
            return self.load()
        except Exception as exc:  # any failure of outside code: named, never swallowed
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            raise self.error("plugin.broken", reason=reason) from exc


def plugins(group: str) -> list[Plugin]:
    """The entry points of ``group``: RiskAtlas's own first, then those of other
    distributions; each part by distribution and name."""
    found = []
    for point in metadata.entry_points(group=group):
        dist = point.dist.name if point.dist is not None else "-"
        found.append(Plugin(group, point.name, point.value, dist, point.load))
    return sorted(found, key=lambda p: (not p.builtin, _normal(p.dist), p.name))


def installed(group: str) -> list[Plugin]:
    """:func:`plugins` of ``group``; RiskAtlas's own entry points missing means the package
    is not installed (its entry points are its metadata): a PluginError."""
    found = plugins(group)
    if not any(p.builtin for p in found):
        raise PluginError("plugin.not_installed", group=group)
    return found


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
