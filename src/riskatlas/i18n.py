"""Message catalogues (English and Traditional Chinese) and language selection.

Catalogues are YAML files in ``data/messages`` mapping a key to a ``str.format``
template. A missing key in the reader's language falls back to English; a test checks
that both catalogues have the same keys and placeholders.
"""

from __future__ import annotations

import os
import string
from functools import cache
from importlib import resources
from typing import Any

import yaml

LANGUAGES = ("en", "zh-TW")
DEFAULT_LANGUAGE = "en"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The message templates of one language, flattened to dotted keys."""
    text = resources.files("riskatlas.data.messages").joinpath(f"{lang}.yaml").read_text("utf-8")
    flat: dict[str, str] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        else:
            flat[prefix] = str(node)

    # libyaml's loader when built (the same values, 10x faster: the CLI's start-up)
    walk("", yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    return flat


def normalize_language(value: str | None) -> str:
    """Map a locale or Accept-Language tag (``zh_TW.UTF-8``, ``zh-Hant``) to a catalogue."""
    if not value:
        return DEFAULT_LANGUAGE
    tag = value.split(".")[0].replace("_", "-").lower()
    if tag.startswith("zh"):
        return "zh-TW"
    return "en"


def default_language() -> str:
    """The language from RISKATLAS_LANG, else from the locale, else English."""
    for var in ("RISKATLAS_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        if os.environ.get(var):
            return normalize_language(os.environ[var])
    return DEFAULT_LANGUAGE


def template(key: str, lang: str | None = None) -> str:
    """The message ``key`` with each placeholder shown as "…": the rule itself, apart from
    any one value ("'…' is not a number")."""
    lang = lang or default_language()
    text = catalogue(lang).get(key) or catalogue(DEFAULT_LANGUAGE).get(key) or key
    names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
    return translate(key, lang, **dict.fromkeys(names, "…"))


def translate(key: str, lang: str | None = None, /, **params: Any) -> str:
    """The message ``key`` in ``lang``, formatted with ``params``."""
    lang = lang or default_language()
    template = catalogue(lang).get(key) or catalogue(DEFAULT_LANGUAGE).get(key)
    if template is None:
        return key + (" " + repr(params) if params else "")
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template
