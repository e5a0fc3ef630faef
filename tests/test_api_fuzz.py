"""API fuzzing from /openapi.json (issue 13, item 9): Schemathesis generates valid and
invalid requests for every operation, sent by an anonymous visitor, a collector and a
validator. Every answer must be a non-5xx status the description declares, with the
declared content type and shape. Invalid requests are sent anonymously: the bounds are
checked before who is asking. Bounded: up to ``RISKATLAS_FUZZ_EXAMPLES`` examples per
operation, mode and user (default 25) within ``RISKATLAS_FUZZ_SECONDS`` for the whole run
(default 150, shared evenly; the analyses cost a second or more per distinct request),
derandomised so that every run sends the same requests in the same order."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from cards import card, store_with
from conftest import web_client, web_user

EXAMPLES = int(os.environ.get("RISKATLAS_FUZZ_EXAMPLES", "25"))
SECONDS = float(os.environ.get("RISKATLAS_FUZZ_SECONDS", "150"))
USERS = {"anonymous": None, "collector": "ana", "validator": "vera"}
RUNS = [(who, GenerationMode.POSITIVE) for who in USERS] + [("anonymous",
                                                              GenerationMode.NEGATIVE)]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any,
                                                                      dict[str, str]]]:
    db: Path = store_with(tmp_path_factory.mktemp("fuzz"), [
        card(1, "FLOOD", 2001, "01", l1="0101", deaths=3),
        card(2, "LANDSLIDE", 2003, "01", l1="0102", deaths=1),
        card(3, "DROUGHT", 2005, "02", l1="0201", affected=900)])
    tokens = {name: web_user(db, name, role) for name, role in
              (("ana", "collector"), ("vera", "validator"))}
    with web_client(db) as client:
        # requests go through this one client: an app per request would start and stop it
        schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
        yield client, schema, tokens


def _operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.slow
@pytest.mark.parametrize(("who", "mode"), RUNS, ids=[f"{w}-{m.value}" for w, m in RUNS])
def test_no_server_error_and_answers_as_declared(fuzzed, who: str, mode: GenerationMode):
    client, schema, tokens = fuzzed
    name = USERS[who]
    headers = {"Authorization": f"Bearer {tokens[name]}"} if name else {}
    checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])
    operations = _operations(schema)
    assert len(operations) >= 20, [op.label for op in operations]
    failures: list[str] = []
    budget = SECONDS / len(RUNS) / len(operations)
    for operation in operations:
        try:
            _fuzz(client, operation, mode, headers, checks, budget)
        except Exception as exc:  # every operation is fuzzed; all failures reported
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


def _fuzz(client: Any, operation: Any, mode: GenerationMode, headers: dict[str, str],
          checks: list[Any], budget: float) -> None:
    """Up to EXAMPLES generated requests to ``operation``, sent within ``budget`` seconds."""
    deadline = time.monotonic() + budget

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        if time.monotonic() > deadline:
            return
        sent = case.as_transport_kwargs(base_url=str(client.base_url), headers=headers)
        sent.pop("cookies", None)  # the API declares none
        if isinstance(sent.get("data"), bytes | str):  # a raw body (invalid JSON)
            sent["content"] = sent.pop("data")
        if sent.get("files"):
            sent["files"] = _sendable(sent["files"])
        request = client.build_request(**{k: v for k, v in sent.items() if v is not None})
        request.read()  # a multipart body stays readable for the checks' reports
        response = client.send(request)
        case.validate_response(response, checks=checks, headers=headers)

    try:
        run()
    except Unsatisfiable:  # no invalid request exists: an operation without parameters
        assert mode is GenerationMode.NEGATIVE, operation.label


def _sendable(files: Any) -> Any:
    """Multipart parts as a client sends them: a generated value that is neither bytes,
    text nor a file (invalid requests put a number where a file goes) goes as its text."""
    def part(value: Any) -> Any:
        if isinstance(value, tuple):
            return (value[0], part(value[1]), *value[2:])
        if isinstance(value, bytes | str) or hasattr(value, "read"):
            return value
        return str(value).encode()

    if isinstance(files, dict):
        return {name: part(value) for name, value in files.items()}
    return [(name, part(value)) for name, value in files]
