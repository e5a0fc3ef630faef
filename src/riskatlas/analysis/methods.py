"""The methods profile: every threshold and weight of the analyses, from a YAML file.

``data/methods.yaml`` holds the defaults; a user's file overrides any subset of its keys.
Every analysis result carries the profile's version and digest, so a reader can tell
which settings produced it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from riskatlas.errors import MethodsError

# maps whose keys a user may extend (hazard groups, indicators); elsewhere keys are fixed
_OPEN_MAPS = ("events.window_days", "events.max_span_days", "linking.window_days",
              "linking.related_groups", "linking.places.abbreviations")


@dataclass(frozen=True)
class Methods:
    """A validated methods profile (nested mapping) with its provenance."""

    settings: dict[str, Any]
    source: str

    def get(self, dotted: str) -> Any:
        value: Any = self.settings
        for part in dotted.split("."):
            value = value[part]
        return value

    @property
    def version(self) -> str:
        return str(self.settings["version"])

    @property
    def digest(self) -> str:
        text = json.dumps(self.settings, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def stamp(self) -> dict[str, str]:
        """What every result states about the settings it used."""
        return {"methods_version": self.version, "methods_digest": self.digest,
                "methods_source": self.source}

    def window_days(self, group: str) -> int:
        return int(self.get("events.window_days").get(group,
                                                      self.get("events.default_window_days")))

    def statuses(self) -> tuple[str, ...]:
        """The approval statuses counted by default (``statuses``)."""
        return tuple(str(s) for s in self.get("statuses"))

    def indicator_weights(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.get("screen.indicators").items()}

    def classes(self) -> list[tuple[str, float]]:
        """(class, lower bound) from the highest bound down."""
        bounds = self.get("screen.classes")
        return sorted(((k, float(v)) for k, v in bounds.items()), key=lambda kv: -kv[1])


@cache
def _defaults_text() -> str:
    return resources.files("riskatlas.data").joinpath("methods.yaml").read_text("utf-8")


def load_methods(path: str | Path | None = None) -> Methods:
    """The default profile, overridden by the file at ``path`` when given."""
    settings = yaml.safe_load(_defaults_text())
    if path is None:
        return Methods(settings, "default")
    path = Path(path)
    try:
        user = yaml.safe_load(path.read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise MethodsError("methods.unreadable", path=str(path), reason=str(exc)) from None
    if not isinstance(user, dict):
        raise MethodsError("methods.bad_value", path=str(path), key="-", expected="mapping")
    return Methods(_merge(settings, user, str(path), ""), path.name)


def _merge(base: dict[str, Any], override: dict[str, Any], path: str,
           prefix: str) -> dict[str, Any]:
    """``base`` with ``override`` applied; keys and value types must match the defaults."""
    merged = dict(base)
    for key, value in override.items():
        dotted = f"{prefix}{key}"
        if key not in base and prefix.rstrip(".") not in _OPEN_MAPS:
            raise MethodsError("methods.unknown_key", path=path, key=dotted)
        default = base.get(key)
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise MethodsError("methods.bad_value", path=path, key=dotted,
                                   expected="mapping")
            merged[key] = _merge(default, value, path, f"{dotted}.")
        elif default is not None and not _same_kind(default, value):
            raise MethodsError("methods.bad_value", path=path, key=dotted,
                               expected=type(default).__name__)
        else:
            merged[key] = value
    return merged


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, int | float):
        return isinstance(value, int | float)
    if isinstance(default, list):  # a list of numbers, or of texts
        kind = str if default and isinstance(default[0], str) else int | float
        return isinstance(value, list) and all(isinstance(v, kind) for v in value)
    return isinstance(value, type(default))
