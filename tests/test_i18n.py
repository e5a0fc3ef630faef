"""Both message catalogues have the same keys and placeholders; errors render in both."""

from __future__ import annotations

import re

from riskatlas.errors import RecordError
from riskatlas.i18n import LANGUAGES, catalogue, normalize_language, translate
from riskatlas.model.hazards import reporting_groups


def _placeholders(template: str) -> set[str]:
    return set(re.findall(r"{(\w+)}", template))


def test_catalogues_have_the_same_keys_and_placeholders():
    en, zh = catalogue("en"), catalogue("zh-TW")
    assert set(en) == set(zh)
    for key in en:
        assert _placeholders(en[key]) == _placeholders(zh[key]), key
        assert zh[key].strip() and en[key].strip(), key


def test_zh_tw_is_really_chinese():
    zh = catalogue("zh-TW")
    assert sum(bool(re.search(r"[\u4e00-\u9fff]", v)) for v in zh.values()) > 0.9 * len(zh)


def test_language_selection():
    assert normalize_language("zh_TW.UTF-8") == "zh-TW"
    assert normalize_language("zh-Hant") == "zh-TW"
    assert normalize_language("en-GB") == "en"
    assert normalize_language(None) == "en"
    assert LANGUAGES == ("en", "zh-TW")


def test_record_error_names_file_record_and_field_in_both_languages():
    error = RecordError("record.year_out_of_range", path="a.xml", record="clave 3",
                        field="fechano", value=201, min=1500, max=2027)
    assert error.render("en") == ("a.xml: record clave 3, field fechano: "
                                  "year 201 is out of range (1500–2027)")
    assert "年份 201 超出範圍" in error.render("zh-TW") and "fechano" in error.render("zh-TW")
    assert translate("no.such.key", "en") == "no.such.key"


def test_reporting_groups_have_both_names():
    for group in reporting_groups().values():
        assert group.name_en and re.search(r"[\u4e00-\u9fff]", group.name_zh_tw)
