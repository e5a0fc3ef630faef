"""`riskatlas assess`: its steps shown as they start (in the user's language), both report
languages from one run of the analyses, and the fast XLSX writer of the report tables."""

from __future__ import annotations

import dataclasses
import math
import re

import pandas as pd
import pytest

import riskatlas
from test_cli import run_cli

STEP = re.compile(r"^\[(\d+)/(\d+)\] (.+)$", re.M)


def steps_of(stdout: str) -> list[tuple[int, int, str]]:
    return [(int(n), int(total), text) for n, total, text in STEP.findall(stdout)]


@pytest.mark.shared_data
@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_assess_shows_each_step_in_the_users_language(grenada_db, tmp_path, lang):
    from riskatlas.assessment.pipeline import STEPS
    from riskatlas.i18n import translate

    done = run_cli("assess", "--country", "GRD", "--lang", lang, "--no-pdf", "--out",
                   str(tmp_path / "out"), "--db", str(grenada_db))
    assert done.code == 0, done.stderr
    steps = steps_of(done.stdout)
    total = len(STEPS) + 2  # the analyses, then the pages and the tables (no PDF asked)
    assert [(n, t) for n, t, _ in steps] == [(i, total) for i in range(1, total + 1)]
    wanted = [*(f"assess.step_{s}" for s in STEPS), "assess.step_html", "assess.step_tables"]
    assert [text.rstrip(" …") for _, _, text in steps] == [
        translate(key, lang) for key in wanted]
    # every step comes before the report's summary, which ends the output
    assert done.stdout.index(steps[-1][2]) < done.stdout.index(
        translate("assess.top_title", lang, level=1).split("(")[0].split("（")[0])
    assert (tmp_path / "out" / f"riskatlas-report-{lang}.html").exists()


@pytest.mark.shared_data
def test_assess_writes_both_languages_from_one_run(grenada_db, tmp_path):
    out = tmp_path / "out"
    done = run_cli("assess", "--country", "GRD", "--lang", "en,zh-TW", "--no-pdf", "--out",
                   str(out), "--db", str(grenada_db))
    assert done.code == 0, done.stderr
    for lang in ("en", "zh-TW"):
        page = (out / lang / f"riskatlas-report-{lang}.html").read_text(encoding="utf-8")
        assert (out / lang / "riskatlas-tables.xlsx").stat().st_size > 0
        assert (out / lang / "tables" / "records.csv").exists()
        assert ("颶風" in page or "颱風" in page) == (lang == "zh-TW")
    assert steps_of(done.stdout)[0][2].startswith("Scope")  # messages: the first language
    bad = run_cli("assess", "--country", "GRD", "--lang", "en,fr", "--db", str(grenada_db))
    assert bad.code != 0 and "fr" in bad.stdout + bad.stderr


@pytest.mark.shared_data
def test_a_second_language_words_the_same_results_again(grenada_db):
    """What assess_languages derives in zh-TW equals what assess computes in zh-TW."""
    from riskatlas.assessment.pipeline import assess, assess_languages

    with riskatlas.open(grenada_db) as atlas:
        scope = atlas.scope_of(country="GRD")
        derived = assess_languages(atlas, scope, ["en", "zh-TW"])["zh-TW"]
        direct = assess(atlas, scope, lang="zh-TW")
        assert atlas.store.memo is None  # the run's memo goes with the run
    assert derived.lang == "zh-TW" and derived.notes == direct.notes
    for field in dataclasses.fields(direct):
        mine, theirs = getattr(derived, field.name), getattr(direct, field.name)
        if field.name == "annual":  # rows in any order
            keys = list(theirs.columns[:4])
            mine, theirs = (f.sort_values(keys).reset_index(drop=True) for f in (mine, theirs))
        if isinstance(theirs, pd.DataFrame):
            pd.testing.assert_frame_equal(mine, theirs, obj=field.name)
            assert mine.attrs == theirs.attrs, field.name
        elif field.name == "peers":
            assert mine.keys() == theirs.keys()
            for key in theirs:
                pd.testing.assert_frame_equal(mine[key], theirs[key])
        elif field.name not in ("catalogue", "cases"):
            assert mine == theirs, field.name
    zh_names = set(derived.profile["hazard_name"])
    assert zh_names and all(re.search(r"[\u4e00-\u9fff]", n) for n in zh_names)


def test_xlsx_writer_keeps_every_value(tmp_path):
    from openpyxl import load_workbook
    from python_calamine import CalamineWorkbook

    from riskatlas.report.xlsx import Sheet, column_letter, write_workbook

    frame = pd.DataFrame({
        "n": [1, 2, 3], "x": [1.5, math.nan, math.inf], "big": [2**40, -1, 0],
        "flag": [True, False, True], "nullable": pd.array([1, None, 3], dtype="Int64"),
        "text": [" lead", "a<b & c>d", "=1+1"], "ctrl": ["bell\x07", "_x0041_", None],
        "when": pd.to_datetime(["2001-02-03 00:00", None, "2010-01-01 12:30"]),
        "mixed": [1, "two", 3.25], "zh": ["颶風", "淹水", ""]})
    path = write_workbook(tmp_path / "t.xlsx", {
        "plain": frame, "named/sheet": Sheet(frame.iloc[:0, :2], headers=["甲", "乙"],
                                             widths=[12, None])})
    book = load_workbook(path)
    assert book.sheetnames == ["plain", "named_sheet"]
    rows = list(book["plain"].iter_rows(values_only=True))
    assert rows[0] == tuple(frame.columns)
    assert [r[0] for r in rows[1:]] == [1, 2, 3]
    assert [r[1] for r in rows[1:]] == [1.5, None, "#DIV/0!"]
    assert [r[2] for r in rows[1:]] == [2**40, -1, 0]
    assert [r[3] for r in rows[1:]] == [True, False, True]
    assert [r[4] for r in rows[1:]] == [1, None, 3]
    assert [r[5] for r in rows[1:]] == [" lead", "a<b & c>d", "=1+1"]  # text, not formulas
    assert book["plain"]["F4"].data_type == "s"
    # control characters escaped as _xHHHH_ (and a literal "_xHHHH_" kept), as Excel reads
    escaped = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("plain").to_python()
    assert [r[6] for r in escaped[1:]] == ["bell\x07", "_x0041_", ""]
    assert [r[7] for r in rows[1:]] == ["2001-02-03 00:00:00", None, "2010-01-01 12:30:00"]
    assert [r[8] for r in rows[1:]] == [1, "two", 3.25]
    assert [r[9] for r in rows[1:]] == ["颶風", "淹水", None]
    assert book["plain"]["A1"].font.b and not book["plain"]["A2"].font.b
    named = book["named_sheet"]
    assert list(named.iter_rows(values_only=True)) == [("甲", "乙")]
    assert named.column_dimensions["A"].width == 12
    assert [column_letter(i) for i in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]


@pytest.mark.shared_data
def test_unit_pages_share_the_screen_and_peer_features_of_their_scope(grenada_db):
    """On a served copy (a store with a memo) the unit pages of a scope compute its screen
    and the peer features once, for every language: the same unit assessment as without."""
    from riskatlas.assessment import pipeline
    from riskatlas.store.memo import Memo

    with riskatlas.open(grenada_db, read_only=True) as atlas:
        scope = atlas.scope_of(country="GRD", level=1)
        codes = atlas.screen(scope=atlas.ready(scope)).sort_values("rank")["admin_code"]
        plain = {(code, lang): pipeline.unit_assessment(atlas, scope, code, lang=lang)
                 for code in codes[:2] for lang in ("en", "zh-TW")}
        atlas.store.memo = Memo()
        calls: list[str] = []
        screens = pipeline.screens

        def counted(*args, **kwargs):
            calls.append("screens")
            return screens(*args, **kwargs)

        pipeline.screens = counted
        try:
            kept = {key: pipeline.unit_assessment(atlas, scope, key[0], lang=key[1])
                    for key in plain}
        finally:
            pipeline.screens = screens
    assert calls == ["screens"]
    for key, a in plain.items():
        b = kept[key]
        assert a is not None and b is not None
        pd.testing.assert_frame_equal(a.screen, b.screen)
        assert a.notes == b.notes and a.advice == b.advice
        for unit, frame in a.peers.items():
            pd.testing.assert_frame_equal(frame, b.peers[unit])
