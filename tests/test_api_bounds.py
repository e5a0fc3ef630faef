"""Bounds on every API parameter and body field (issue 13, item 3): declared in
/openapi.json, and a value beyond them answers 422 in the one error shape, never 500."""

from __future__ import annotations

from typing import Any

import pytest

from cards import card, store_with
from conftest import web_client, web_user
from test_web_api import assert_error

NEW = {"country_iso3": "LKA", "level0_code": "01", "start_year": 2002, "hazard_term": "FLOOD"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    db = store_with(tmp_path_factory.mktemp("bounds"),
                    [card(1, "FLOOD", 2001, "01", l1="0101", deaths=3)])
    token = web_user(db, "ana", "collector")
    with web_client(db) as client:
        yield client, {"Authorization": f"Bearer {token}"}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        node: Any = spec
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return _resolve(spec, node)
    return schema


def _unbounded(spec: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    """The places in ``schema`` where a number, text or list has no bound."""
    schema = _resolve(spec, schema)
    out: list[str] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for i, part in enumerate(schema.get(key, [])):
            out += _unbounded(spec, part, f"{where}|{i}")
    kind = schema.get("type")
    if "enum" in schema or "const" in schema or kind in ("boolean", "null"):
        return out
    if kind in ("integer", "number") and not ("maximum" in schema and "minimum" in schema):
        out.append(f"{where}: {kind} without minimum and maximum")
    if kind == "string" and not ({"maxLength", "pattern"} & set(schema)
                                 or schema.get("format") == "binary"):
        out.append(f"{where}: string without maxLength")
    if kind == "array":
        if "maxItems" not in schema:
            out.append(f"{where}: array without maxItems")
        out += _unbounded(spec, schema.get("items", {}), f"{where}[]")
    if kind == "object":
        if schema.get("additionalProperties") is not False:
            out.append(f"{where}: object open to any property")
        for name, prop in schema.get("properties", {}).items():
            out += _unbounded(spec, prop, f"{where}.{name}")
    return out


def test_every_parameter_and_body_field_declares_its_bounds(site):
    client, _ = site
    spec = client.get("/openapi.json").json()
    problems: list[str] = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                problems += _unbounded(spec, parameter["schema"],
                                       f"{method.upper()} {path} ?{parameter['name']}")
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                problems += _unbounded(spec, content["schema"],
                                       f"{method.upper()} {path} body ({media})")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("body", [
    {**NEW, "deaths": 1e30},               # once a 500 (issue 13)
    {**NEW, "deaths": 10 ** 30},
    {**NEW, "deaths": -3},
    {**NEW, "deaths": 2.5},                # a count
    {**NEW, "latitude": 1e308},
    {**NEW, "start_year": 10 ** 20},
    {**NEW, "start_month": 13},
    {**NEW, "comments": "x" * 5000},
    {**NEW, "colour": "red"},              # not a card field
    {**NEW, "deaths": [1]},
    {**NEW, "unknown": ["colour"]},
    [1, 2],
])
def test_a_card_body_beyond_its_bounds_is_a_422(site, body):
    client, auth = site
    for method, path in (("POST", "/api/records"), ("PATCH", "/api/records/WEB:none")):
        response = client.request(method, path, json=body, headers=auth)
        error = assert_error(response, 422)
        assert error["code"] == "web.error.invalid_parameter"


def test_a_card_body_within_bounds_is_taken(site):
    client, auth = site
    response = client.post("/api/records", json={**NEW, "deaths": 2 ** 40, "affected": "25",
                                                  "latitude": -89.5, "longitude": 179.5,
                                                  "unknown": ["injured"]}, headers=auth)
    assert response.status_code == 201, response.text
    assert response.json()["record"]["deaths"] == 2 ** 40


@pytest.mark.parametrize("query", [
    "/api/profile?top=100000000000000000000000",   # once a 500 (issue 13)
    "/api/profile?dataset=100000000000000000000000",
    "/api/profile?metric=" + "x" * 300,
    "/api/profile?" + "&".join(["metric=deaths"] * 50),
    "/api/risk?exceedance=" + "x" * 300,
    "/api/profile?by=" + "x" * 300,
    "/api/records?page_size=1001",
    "/api/admin/audit?since=" + "9" * 300,
])
def test_a_query_beyond_its_bounds_is_a_422(site, query):
    client, auth = site
    assert_error(client.get(query, headers=auth), 422)


def test_a_transition_body_beyond_its_bounds_is_a_422(site):
    client, auth = site
    for body in ({"to": 5}, {"to": "published", "reason": "x" * 5000}, {"to": "elsewhere"},
                 {"to": "published", "extra": 1}):
        response = client.post("/api/records/WEB:none/transition", json=body, headers=auth)
        assert assert_error(response, 422)["code"] == "web.error.invalid_parameter"


def test_a_lone_surrogate_names_its_field(site):
    client, auth = site
    body = b'{"country_iso3": "LKA", "start_year": 2002, "hazard_term": "\\ud800"}'
    response = client.post("/api/records", content=body,
                           headers={**auth, "content-type": "application/json"})
    error = assert_error(response, 422)
    assert error["code"] == "web.error.bad_text" and "hazard_term" in error["message"]
