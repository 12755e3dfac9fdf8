"""/openapi.json tells the truth: schemathesis, judged as `schemathesis run --checks all` judges
(schemathesis.toml), runs every phase (examples, coverage, fuzzing, stateful through the document's
links) against the app in-process and finds nothing.

CRM connectors are generated from the document, so a lie in it is a bug in every connector: a 200
body that is not the documented model, a schema-valid body the API refuses (or an invalid one it
takes), a status or a method no operation documents. The run is reproducible (a fixed seed,
derandomized Hypothesis, no example database) and bounded (``MAX_EXAMPLES`` per operation and
phase) so that it fits in the default suite.

Beyond schemathesis's own checks, ``schema_valid_body_meets_the_model``: where the config lets an
operation answer 422 to a schema-valid body (what is stored decides, see schemathesis.toml), the body
must still pass the route's request model, so the document and the models cannot drift apart there.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema
from schemathesis.python import asgi

from api.app import create_app
from api.db import migrate
from tests.conftest import account, contact, settings_for

REPO = Path(__file__).resolve().parents[2]
SEED = 20261120
MAX_EXAMPLES = 20
BULK_MAX_ITEMS = 20  # the document's maxItems: the coverage phase sends one more item than this

# The TOML form of the rules preview's body is text; schemathesis sends text as it is.
schemathesis.serializer.alias("application/toml", "text/plain")


def _request_models(app: FastAPI) -> dict[tuple[str, str], Any]:
    """(method, path template) -> the route's JSON body field (FastAPI's ModelField of the body
    model); a multipart body (POST /v1/batches) is not JSON, so not this check's."""
    out = {}
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.body_field is not None \
                and getattr(route.body_field.field_info, "media_type", "application/json") == "application/json":
            out.update(((method, route.path), route.body_field) for method in route.methods)
    return out


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    url = f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'leadmatch.db'}"
    migrate(url)
    app = create_app(settings_for(url, bulk_max_items=BULK_MAX_ITEMS))
    client = asgi.get_client(app)
    with client:  # starts the lifespan, which schemathesis's own clients then share
        assert app.state.services.index.wait_ready(30), "index did not load"
        # a little of everything, so that matches, statuses and histories have something to show
        accounts = [account("A1"), account("A2", "Globex Inc", domains=["globex.com"], country="DE"),
                    account("A3", "Acme GmbH", domains=["acme.de"], country="DE", parent_id="A1")]
        assert client.put("/v1/accounts", json=accounts).status_code == 200
        people = [contact("K1"), contact("K2", "A2", "hank@globex.com", title="VP Engineering")]
        assert client.put("/v1/contacts", json=people).status_code == 200
        event = {"id": "E1", "type": "demo_request", "occurred_at": "2026-01-05T10:00:00Z", "contact_id": "K2"}
        assert client.post("/v1/activities", json=[event]).status_code == 200
        yield app
    asgi.shutdown_lifespans()


def test_schemathesis_finds_nothing(app: FastAPI) -> None:
    models = _request_models(app)

    checked: list[str] = []

    @schemathesis.check
    def schema_valid_body_meets_the_model(ctx: Any, response: Any, case: Any) -> bool | None:
        field = models.get((case.method.upper(), case.operation.path))
        if (field is None or case.meta is None or not case.meta.generation.mode.is_positive
                or case.media_type != "application/json"):
            return None
        checked.append(case.operation.label)
        _, errors = field.validate(case.body, {}, loc=("body",))
        if errors:
            raise AssertionError(f"the body is schema-valid but the route's model refuses it: {errors}")
        return None

    config = SchemathesisConfig.from_path(REPO / "schemathesis.toml")
    config.update(seed=SEED, max_failures=None)
    project = config.projects.override
    project.checks.update(included_check_names=["all"])
    project.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)

    problems: list[str] = []
    phases: dict[str, str] = {}
    links_followed: set[str] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            if event.status in (Status.FAILURE, Status.ERROR):
                problems.extend(_failures(event))
            if event.phase == "stateful":
                links_followed.update(_links_followed(event))
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            problems.append(f"{getattr(event, 'label', None) or 'the run'}: {event.info.format()}")
        elif isinstance(event, events.PhaseFinished):
            phases[str(event.phase.name)] = str(event.status)
    assert not problems, f"{len(problems)} problem(s):\n\n" + "\n\n".join(problems)
    # every phase ran (a phase that is skipped finds nothing either)
    assert set(phases) >= {"examples", "coverage", "fuzzing", "stateful"}, phases
    assert all(phases[name] == "success" for name in ("examples", "coverage", "fuzzing", "stateful")), phases
    # the extra check saw schema-valid bodies of every operation that has a body model
    assert set(checked) >= {f"{method} {path}" for method, path in models}, set(checked)
    # the stateful phase walked the document's links (which of them, and how often, varies: schemathesis
    # decides with an unseeded coin whether a step takes a link's values or draws its own)
    assert links_followed, "the stateful phase followed none of the document's links"


def _links_followed(event: events.ScenarioFinished) -> set[str]:
    """The links (by name) whose values a step of this scenario took."""
    return {node.transition.id.split(" -> ")[2]  # "PUT /v1/accounts -> [200] GetAccount -> GET ..."
            for node in event.recorder.cases.values() if node.transition is not None and node.is_transition_applied}


def _failures(event: events.ScenarioFinished) -> list[str]:
    out = []
    for checks in event.recorder.checks.values():
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                failure = check.failure_info.failure
                out.append(f"{event.label} [{event.phase.value}] {check.name}: {failure.title}\n"
                           f"{failure.message[:1500]}\n{check.failure_info.code_sample}")
    return out or [f"{event.label} [{event.phase.value}]: {event.status.name} (see the recorder)"]


def test_every_answer_has_a_schema(app: FastAPI) -> None:
    # schemathesis cannot tell a route without a response_model (documented as {}: anything goes)
    # from one that keeps its promise; a connector generated from {} has no type to give the body
    document = app.openapi()
    vague = [f"{method.upper()} {path} {status} {media}"
             for path, operations in document["paths"].items() for method, operation in operations.items()
             for status, response in operation["responses"].items()
             for media, content in response.get("content", {}).items() if not content.get("schema")]
    assert not vague, vague


def test_a_405_allows_what_the_document_lists(app: FastAPI) -> None:
    # Starlette's own Allow names the methods of the first route it meets for the path
    with asgi.get_client(app) as client:
        for method, path, allowed in [("OPTIONS", "/v1/accounts/A1", "DELETE, GET, HEAD"),
                                      ("PATCH", "/v1/accounts/A1/flags", "PUT"),
                                      ("GET", "/v1/match", "POST"),
                                      ("DELETE", "/healthz", "GET, HEAD")]:
            r = client.request(method, path)
            assert (r.status_code, r.headers.get("allow")) == (405, allowed), (method, path)
            assert r.json() == {"error": "Method Not Allowed", "fields": []}


def test_a_body_that_is_not_json_is_a_422_naming_the_body(app: FastAPI) -> None:
    # FastAPI answers bytes it cannot decode with a bare 400 that no operation documents
    with asgi.get_client(app) as client:
        for path, method in [("/v1/match", "POST"), ("/v1/accounts", "PUT"), ("/v1/accounts/A1/flags", "PUT")]:
            for body in (b"\xff\xfe{", b'{"company": "Acme", '):  # not UTF-8 / not JSON
                # /v1/match: the fast path hands what it cannot parse to the route, which answers
                r = client.request(method, path, data=body, headers={"content-type": "application/json"})
                assert r.status_code == 422, (path, body, r.text)
                assert [f["field"] for f in r.json()["fields"]] == ["body"], (path, body, r.text)
