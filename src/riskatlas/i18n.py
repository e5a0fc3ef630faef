"""Message catalogues (English and Traditional Chinese), language selection and the zh-TW
glossary.

Catalogues are YAML files in ``data/messages`` mapping a key to a ``str.format``
template. A missing key in the reader's language falls back to English; a test checks
that both catalogues have the same keys and placeholders. In zh-TW a value that puts Latin
letters or digits next to Chinese gets a space between them ("造成 Makwanpur").

``data/glossary.yaml`` holds the words a Taiwanese reader expects (preferred term →
forbidden variants) and the tropical-cyclone word of each ocean basin (颱風, 颶風, 氣旋):
:func:`basin_text` words a country-neutral text for a country, :func:`glossary_problems`
lists what a zh-TW text gets wrong (tests/test_glossary.py).
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass
from functools import cache, lru_cache
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
        if lang == "zh-TW" and params:
            return format_joined(template, params)
        return template.format(**params)
    except (KeyError, IndexError, ValueError, AttributeError):
        return template


# a dataset imported from several files is stored as "first.xlsx (+24 files)" (importer)
_MORE_FILES = re.compile(r"^(?P<name>.+) \(\+(?P<count>\d+) files\)$")


def dataset_name(name: str, lang: str | None = None) -> str:
    """A stored dataset name in ``lang``: "a.xlsx (+24 files)" → "a.xlsx（另 24 個檔案）"."""
    found = _MORE_FILES.match(name or "")
    if found is None:
        return name
    return translate("import.more_files", lang, name=found["name"], count=int(found["count"]))


# ----------------------------------------------------------------- Chinese next to Latin

# CJK ideographs (unified, extension A, compatibility); full-width punctuation is not one
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_CHAR = re.compile(f"[{_CJK}]")
_FORMATTER = string.Formatter()


def is_cjk(ch: str) -> bool:
    return bool(CJK_CHAR.fullmatch(ch))


def is_latin(ch: str) -> bool:
    """A letter or digit of an alphabetic script (Latin, Greek, Devanagari, …)."""
    return ch.isalnum() and ord(ch) < 0x3000 and not is_cjk(ch)


def _needs_space(left: str, right: str) -> bool:
    return (is_cjk(left) and is_latin(right)) or (is_latin(left) and is_cjk(right))


def join_mixed(*parts: str) -> str:
    """The parts joined, with a space where Chinese meets Latin letters or digits:
    ("造成", "Makwanpur", "的死亡") → "造成 Makwanpur 的死亡"; ("臺中市", "的") → "臺中市的"."""
    out = ""
    for part in parts:
        if out and part and _needs_space(out[-1], part[0]):
            out += " "
        out += part
    return out


_FULL_WIDTH = str.maketrans({",": "，", ";": "；", ":": "：", "(": "（", ")": "）",
                             "!": "！", "?": "？"})


def punctuation_in(mark: str, lang: str) -> str:
    """A separator in ``lang``'s punctuation: "; " stays in English, is "；" in zh-TW."""
    if normalize_language(lang) != "zh-TW" or not mark.strip():
        return mark
    return mark.strip().translate(_FULL_WIDTH)


def label_value(label: str, value: str) -> str:
    """A label and its value, with the colon of the label's script: "水災：22.9 %",
    "Flood: 22.9 %" (for texts built outside the catalogue, e.g. chart tooltips)."""
    return f"{label}：{value}" if label and is_cjk(label[-1]) else f"{label}: {value}"


def parenthesised(text: str, inner: str) -> str:
    """``inner`` in brackets after ``text``, full-width where either is Chinese:
    "St George（高）", "St George (high)"."""
    if CJK_CHAR.search(text + inner):
        return join_mixed(text, f"（{inner}）")
    return f"{text} ({inner})"


@lru_cache(maxsize=4096)
def _pieces(template: str) -> tuple[tuple[str, str | None, str, str | None], ...]:
    return tuple((lit, name, spec or "", conv)
                 for lit, name, spec, conv in _FORMATTER.parse(template))


def format_joined(template: str, params: dict[str, Any]) -> str:
    """``template.format(**params)``, joining each value to the template's text with
    :func:`join_mixed` (the template's own text is checked by tests/test_glossary.py)."""
    parts: list[str] = []
    for literal, name, spec, conv in _pieces(template):
        parts.append(literal)
        if name is None:
            continue
        value, _ = _FORMATTER.get_field(name, (), params)
        value = _FORMATTER.convert_field(value, conv)
        parts.append(_FORMATTER.format_field(value, _FORMATTER.vformat(spec, (), params)))
    return join_mixed(*parts)


# ----------------------------------------------------------------- the zh-TW glossary

GLOSSARY_FILE = "glossary.yaml"
BASIN_TOKEN = re.compile(r"\{(cyclone|Cyclone)\}")


@dataclass(frozen=True)
class Term:
    """A concept's preferred zh-TW word(s), the variants not to write, the longer standard
    terms in which a variant stays right, and where the rule applies."""

    id: str
    preferred: tuple[str, ...]
    forbidden: tuple[str, ...]
    allow: tuple[str, ...]
    context: str


@dataclass(frozen=True)
class Basin:
    """An ocean basin's word for a tropical cyclone, and the countries it is theirs for."""

    id: str
    name: str
    terms: dict[str, str]  # language → word
    m49: tuple[str, ...]  # M49 areas (sub-regions, intermediate regions)
    countries: tuple[str, ...]  # ISO3, ahead of any area


@dataclass(frozen=True)
class Glossary:
    terms: tuple[Term, ...]
    simplified: frozenset[str]  # Simplified-only characters
    basins: tuple[Basin, ...]
    default: dict[str, str]  # the word when the basin is unknown (熱帶氣旋)
    basin_allow: tuple[str, ...]  # words holding a basin word that stay right (溫帶氣旋)
    country_names: dict[str, str]  # ISO3 → the name Taiwan writes (臺灣, 南韓, 印尼)

    def basin(self, basin_id: str) -> Basin:
        return next(b for b in self.basins if b.id == basin_id)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in (value or ()))


@cache
def glossary() -> Glossary:
    """``data/glossary.yaml``, read once."""
    text = resources.files("riskatlas.data").joinpath(GLOSSARY_FILE).read_text("utf-8")
    raw = yaml.safe_load(text)
    terms = tuple(Term(str(t["id"]), _strings(t["preferred"]), _strings(t["forbidden"]),
                       _strings(t.get("allow")), str(t.get("context", "")))
                  for t in raw["terms"])
    basins = raw["basins"]
    areas = tuple(Basin(str(bid), str(b["name"]), {k: str(v) for k, v in b["terms"].items()},
                        _strings(b.get("m49")), _strings(b.get("countries")))
                  for bid, b in basins["areas"].items())
    listed = [c for b in areas for c in b.countries]
    if len(listed) != len(set(listed)):
        raise ValueError(f"{GLOSSARY_FILE}: a country is listed under two basins")
    return Glossary(terms, frozenset(str(raw.get("simplified", "")).replace(" ", "")),
                    areas, {k: str(v) for k, v in basins["default"].items()},
                    _strings(basins.get("allow")),
                    {str(k): str(v) for k, v in (raw.get("country_names") or {}).items()})


def basin_of(iso3: str | None) -> str | None:
    """The id of the tropical-cyclone basin whose word a country uses: its own entry in
    the glossary, else that of its M49 area (or a parent area); None if neither."""
    from riskatlas.model.regions import area, region_of

    code = str(iso3 or "").upper()
    basins = glossary().basins
    for basin in basins:
        if code in basin.countries:
            return basin.id
    found = region_of(code)
    while found is not None:
        for basin in basins:
            if found.code in basin.m49:
                return basin.id
        found = area(found.parent) if found.parent else None
    return None


def basin_term(iso3: str | None, lang: str) -> str:
    """A tropical cyclone in ``lang`` for a country: 颶風 for Grenada, 氣旋 for Nepal,
    熱帶氣旋 where the basin is unknown."""
    g = glossary()
    basin = basin_of(iso3)
    lang = normalize_language(lang)
    terms = g.basin(basin).terms if basin else g.default
    return terms.get(lang) or g.default.get(lang) or g.default[DEFAULT_LANGUAGE]


def basin_text(text: str, lang: str, iso3: str | None = None) -> str:
    """``text`` with each {cyclone} token worded for the country's basin ({Cyclone}:
    capitalised)."""
    if "{" not in text:
        return text

    def word(m: re.Match[str]) -> str:
        term = basin_term(iso3, lang)
        return term[:1].upper() + term[1:] if m.group(1)[0].isupper() else term

    return BASIN_TOKEN.sub(word, text)


def _outside(text: str, word: str, allowed: tuple[str, ...]) -> list[int]:
    """Where ``word`` occurs in ``text`` other than inside one of the ``allowed`` words."""
    covered: set[int] = set()
    for longer in allowed:
        for m in re.finditer(re.escape(longer), text):
            covered.update(range(m.start(), m.end()))
    return [m.start() for m in re.finditer(re.escape(word), text) if m.start() not in covered]


def _excerpt(text: str, at: int, width: int = 12) -> str:
    return text[max(0, at - width):at + width].replace("\n", " ")


def term_problems(text: str) -> list[str]:
    """Glossary variants and Simplified characters in a zh-TW text."""
    g, out = glossary(), []
    for term in g.terms:
        for variant in term.forbidden:
            out += [f"{variant} → {'/'.join(term.preferred)} ({term.id}): "
                    f"…{_excerpt(text, at)}…" for at in _outside(text, variant, term.allow)]
    out += [f"Simplified character {ch}: …{_excerpt(text, i)}…"
            for i, ch in enumerate(text) if ch in g.simplified]
    return out


NEUTRAL = "neutral"  # a text written for every country: tokens or the default word only


def basin_problems(text: str, iso3: str | None = NEUTRAL) -> list[str]:
    """Tropical-cyclone words of another basin in a zh-TW text about country ``iso3``
    (``NEUTRAL``: a text for any country, which writes {cyclone} or the default word)."""
    g = glossary()
    own = None if iso3 == NEUTRAL else basin_of(iso3)
    allowed = (g.default["zh-TW"], *g.basin_allow)
    out = []
    for basin in g.basins:
        if basin.id == own:
            continue
        word = basin.terms["zh-TW"]
        out += [f"{word} is the word of the {basin.name} ({iso3}): …{_excerpt(text, at)}…"
                for at in _outside(text, word, allowed)]
    return out


# half-width punctuation next to Chinese (spaces between them ignored); a full stop only
# where it ends a sentence
_HALF_WIDTH = re.compile(f"[{_CJK}][ \t]*[,:;()!?]|[,:;()!?][ \t]*[{_CJK}]|"
                         f"[{_CJK}]\\.(?:\\s|$)")


def punctuation_problems(text: str) -> list[str]:
    """Half-width punctuation in Chinese sentences (，：；（）！？。 are full-width)."""
    return [f"half-width punctuation: …{_excerpt(text, m.start())}…"
            for m in _HALF_WIDTH.finditer(text)]


def spacing_problems(text: str) -> list[str]:
    """Chinese run into Latin letters or digits ("造成Makwanpur": "造成 Makwanpur")."""
    return [f"no space between Chinese and Latin: …{_excerpt(text, i + 1)}…"
            for i in range(len(text) - 1) if _needs_space(text[i], text[i + 1])]


def glossary_problems(text: str, iso3: str | None = NEUTRAL) -> list[str]:
    """Everything a zh-TW text gets wrong: glossary variants, Simplified characters,
    another basin's cyclone word, half-width punctuation, Chinese run into Latin."""
    return [*term_problems(text), *basin_problems(text, iso3), *punctuation_problems(text),
            *spacing_problems(text)]
