"""Plug-ins: readers and crosswalks of an installed distribution register through the entry
points riskatlas.readers and riskatlas.crosswalks, as the built-in ones do; a plug-in that
cannot be loaded is an error that names it."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

import riskatlas
from riskatlas import plugins
from riskatlas.errors import PluginError
from riskatlas.model.hazards import load_crosswalk
from riskatlas.sources import registry

_NUMBER = itertools.count()

READER_MODULE = '''
from pathlib import Path

from riskatlas.sources.convert import RecordBuilder
from riskatlas.sources.registry import Reader


def sniff(path, head):
    return head.startswith(b"OUTSIDE-LOSSES")


def read(path, batch, options):
    builder = RecordBuilder(source_key=batch.source_key, source_file=path.name,
                            crosswalk=batch.store.crosswalk, policy=batch.policy)
    for row, line in enumerate(path.read_text().splitlines()[1:], start=1):
        key, year, deaths, term = line.split(",")
        raw = {"key": key, "year": year, "deaths": deaths, "term": term}
        batch.count_read(path.name)
        batch.add_record(builder.build(
            {"native_key": key, "start_year": year, "deaths": deaths, "hazard_term": term,
             "country_iso3": "DMO"}, row=row, record_ref=key, raw=raw))


READER = Reader("outside-losses", "An outside loss table (a plug-in)", sniff, read,
                lambda path, options: "OUTSIDE")


def crosswalks():
    return [Path(__file__).with_name("outside_crosswalk.csv")]
'''
CROSSWALK = "# version: 7\nterm,hips_code,group,note\nSPACE ROCK,,other,a plug-in's row\n"


def _install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry_points: str,
             module: str = READER_MODULE) -> str:
    """A distribution ``outside-plugin`` with one module and the given entry_points.txt,
    put on sys.path (as pip would install it); the module's name."""
    name = f"outside_plugin_{next(_NUMBER)}"
    site = tmp_path / "site"
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text(module)
    (site / name / "outside_crosswalk.csv").write_text(CROSSWALK)
    info = site / "outside_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: outside-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points.replace("MODULE", name))
    registry.readers()  # the built-in readers are loaded, so the registry is restored after
    monkeypatch.setattr(registry, "REGISTRY", {})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


def test_builtin_readers_and_crosswalks_come_from_entry_points():
    own = [p for p in plugins.plugins(plugins.READERS) if p.builtin]
    assert {p.name for p in own} == set(registry.readers())
    assert list(registry.readers()) == ["desinventar-xml", "desinventar-flat", "desinventar8",
                                        "emdat", "mapped"]  # detection order (Reader.order)
    assert [p.value for p in plugins.plugins(plugins.CROSSWALKS) if p.builtin] == [
        "riskatlas.model.hazards:builtin_crosswalks"]
    assert load_crosswalk().version.startswith("hazard_crosswalk@")


def test_an_outside_reader_and_crosswalk_are_detected_and_used(tmp_path, monkeypatch):
    _install(tmp_path, monkeypatch, "[riskatlas.readers]\noutside-losses = MODULE:READER\n"
             "[riskatlas.crosswalks]\noutside = MODULE:crosswalks\n")
    found = registry.readers(reload=True)
    assert list(found)[-1] == "outside-losses"  # after the built-in ones
    assert list(found)[:5] == ["desinventar-xml", "desinventar-flat", "desinventar8",
                               "emdat", "mapped"]
    table = tmp_path / "losses.txt"
    table.write_text("OUTSIDE-LOSSES\nk1,2011,3,SPACE ROCK\nk2,2012,0,FLOOD\n")
    assert registry.detect(table).format == "outside-losses"
    crosswalk = load_crosswalk()
    assert crosswalk.version.endswith("+outside_crosswalk@7")
    with riskatlas.open(tmp_path / "s.duckdb") as atlas:
        [result] = atlas.import_paths([table])
        assert (result.format, result.records_imported) == ("outside-losses", 2)
        rows = atlas.store.query("SELECT native_key, deaths, hazard_group FROM records "
                                 "ORDER BY native_key")
    assert rows == [("k1", 3, "other"), ("k2", 0, "flood")]  # the plug-in's crosswalk row


@pytest.mark.parametrize(("module", "kind"), [
    ("import not_an_installed_module_xyz\n", "broken"),
    (None, "missing"),  # the entry point names a module that is not there
    ("READER = 42\n", "wrong_kind"),
])
def test_a_broken_reader_plugin_names_itself(tmp_path, monkeypatch, module, kind):
    name = _install(tmp_path, monkeypatch, "[riskatlas.readers]\nbad-reader = MODULE:READER\n",
                    module=module or "")
    if module is None:
        (tmp_path / "site" / name / "__init__.py").unlink()
        (tmp_path / "site" / name / "outside_crosswalk.csv").unlink()
        (tmp_path / "site" / name).rmdir()
    with pytest.raises(PluginError) as caught:
        registry.readers(reload=True)
    error = caught.value
    assert error.key == ("plugin.wrong_kind" if kind == "wrong_kind" else "plugin.broken")
    for text in (str(error), error.render("zh-TW")):
        assert "bad-reader" in text and f"{name}:READER" in text and "outside-plugin" in text
    if kind == "broken":
        assert "not_an_installed_module_xyz" in str(error)
    if kind == "wrong_kind":
        assert "int" in str(error)


def test_a_crosswalk_plugin_naming_a_missing_file_names_itself(tmp_path, monkeypatch):
    name = _install(tmp_path, monkeypatch,
                    "[riskatlas.crosswalks]\nmy-terms = MODULE:crosswalks\n")
    (tmp_path / "site" / name / "outside_crosswalk.csv").unlink()
    with pytest.raises(PluginError, match="my-terms") as caught:
        load_crosswalk()
    assert caught.value.key == "plugin.missing_file"
    assert "outside_crosswalk.csv" in str(caught.value)


def test_without_its_own_entry_points_riskatlas_says_it_is_not_installed(monkeypatch):
    registry.readers()
    monkeypatch.setattr(registry, "REGISTRY", {})
    monkeypatch.setattr(plugins.metadata, "entry_points", lambda group: [])
    with pytest.raises(PluginError) as caught:
        registry.readers(reload=True)
    assert caught.value.key == "plugin.not_installed"
    assert "riskatlas.readers" in str(caught.value)
    with pytest.raises(PluginError, match=r"riskatlas\.crosswalks"):
        load_crosswalk()
