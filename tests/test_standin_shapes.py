"""The stand-in may not know more than the evidence: its answers' key paths, kind by kind.

Every kind of answer the stand-in gives is asked for once (``CALLS``) and compared with the
real captures of that kind in ``shared/reference/captures/`` (``KINDS``), key path by key
path (``partner_details.profile_details.iso_details.expiry_time``; a list is ``[]``). A
path no capture of its kind shows must be declared in the register of Alma facts
(``facts.yaml``: a fact's ``paths``, under the kind's name); otherwise the test fails and
names the kind, the request and the path. A list kind is its record's captures under the
list key, with the list envelope ``total_record_count`` that the captured lists show.
``job_doc_sample.json`` is Ex Libris' documentation, not a capture: a path only it shows
must be declared too (``jobs.documented_shape``). The stand-in is checked as the demo world
plays it and under every alternative of every fact it can play.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alma_p2p import payloads
from alma_p2p.facts import load_register
from alma_p2p.standin import StandinApp, World
from alma_p2p.standin.routes import ROUTES
from alma_p2p.standin.worlds import DEMO_WORLD as PACKAGED_DEMO_WORLD

REPO = Path(__file__).resolve().parent.parent
# A copy of shared/reference/captures (real Alma answers, SOURCES.md says whence), kept in
# the repository so the tests never depend on a folder beside it (test_captures.py compares).
CAPTURES = REPO / "tests" / "captures"
DEMO = PACKAGED_DEMO_WORLD
BASE = "http://standin.test/almaws/v1"
UNIVERSITY, LENDER = "demo-university-key", "demo-lender-key"
DOCUMENTATION = frozenset({"job_doc_sample.json"})


@dataclass(frozen=True)
class Kind:
    """A kind of answer: its captures, and the list key when it is a page of records."""

    captures: tuple[str, ...]
    list_key: str | None = None


KINDS: dict[str, Kind] = {
    "general": Kind(()),
    "probe": Kind(()),
    "libraries": Kind(("libraries_list_uio.json",)),
    "library": Kind(("library_single_uio.json",)),
    "locations": Kind(("location_single_firestone_stacks.json",), "location"),
    "location": Kind(("location_single_firestone_stacks.json",)),
    "circ_desks": Kind((), "circ_desk"),
    "jobs": Kind(("job_doc_sample.json",), "job"),
    "job_instances": Kind((), "job_instance"),
    "code_table": Kind(()),
    "users": Kind(("user_with_rs_library.json",), "user"),
    "user": Kind(("user_with_rs_library.json",)),
    "partners": Kind(("partner_iso_ladd_active.json",), "partner"),
    "partner": Kind(("partner_iso_ladd_active.json",)),
    # A borrowing request is the same Alma object (user_resource_sharing_request) as a
    # lending request: its captures are the lending ones.
    "borrowing_request": Kind(
        ("lending_request_create_locate_failed.json", "lending_request_shipped_physically.json")
    ),
    "lending_request": Kind(
        ("lending_request_create_locate_failed.json", "lending_request_shipped_physically.json")
    ),
    "task_list": Kind(("lending_requests_list_created.json", "requested_resources_list.json")),
    "item": Kind(("item_by_pid_uio.json",)),
    "error": Kind(
        (
            "error_user_not_found.json",
            "error_per_second_threshold.json",
            "error_rs_self_ownership_401604.json",
        )
    ),
}


@dataclass(frozen=True)
class Call:
    kind: str
    method: str
    path: str
    key: str = UNIVERSITY
    params: tuple[tuple[str, str], ...] = ()
    body: Any = None
    json_by_default: bool = True  # False: an XML answer unless a fact's alternative says JSON

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.params)
        return f"{self.method} {self.path}{'?' + query if query else ''}"


WIN_USER = "P2P-TEST-WIN-01"
LEND_PATH = "/partners/DEMO_STMARYS/lending-requests"


def _lend(title: str, external_id: str) -> dict[str, Any]:
    return payloads.lending_request(
        partner="DEMO_STMARYS", owner="RIVER", title=title, external_id=external_id
    )


CALLS: tuple[Call, ...] = (
    Call("general", "GET", "/conf/general"),
    Call("probe", "GET", "/conf/test"),
    Call("libraries", "GET", "/conf/libraries"),
    Call("library", "GET", "/conf/libraries/WIN"),
    Call("locations", "GET", "/conf/libraries/WIN/locations"),
    Call("location", "GET", "/conf/libraries/WIN/locations/CLSBORR"),
    Call("circ_desks", "GET", "/conf/libraries/WIN/circ-desks"),
    Call("jobs", "GET", "/conf/jobs", params=(("type", "SCHEDULED"),)),
    Call("job_instances", "GET", "/conf/jobs/S1000000000001/instances"),
    Call("code_table", "GET", "/conf/code-tables/MandatoryLendingWorkflowSteps"),
    Call("users", "GET", "/users"),
    Call("users", "GET", "/users", params=(("q", "primary_id~nobody"),)),
    Call("user", "GET", f"/users/{WIN_USER}"),
    Call("user", "GET", "/users/P2P-TEST-NORS-01"),
    Call("partners", "GET", "/partners"),
    Call("partner", "GET", "/partners/DEMO_LENDER"),
    Call(
        "borrowing_request",
        "POST",
        f"/users/{WIN_USER}/resource-sharing-requests",
        body=payloads.borrowing_request(
            title="A title nobody holds", external_id="SHAPES-1", pickup_library="WIN"
        ),
    ),
    Call(
        "borrowing_request",
        "GET",
        f"/users/{WIN_USER}/resource-sharing-requests/SHAPES-1",
        params=(("request_id_type", "external"),),
    ),
    Call(
        "borrowing_request",
        "GET",
        f"/users/{WIN_USER}/resource-sharing-requests/DEMO-RECEIVED-WIN-01",
        params=(("request_id_type", "external"),),
    ),
    Call("item", "GET", "/bibs/991000000000101/holdings/221000000000101/items/231000000000101"),
    Call("item", "GET", "/items", params=(("item_barcode", "WIN000001"),)),
    Call("lending_request", "POST", LEND_PATH, LENDER, body=_lend("Bridges of Riverbend", "S-1")),
    Call("lending_request", "POST", LEND_PATH, LENDER, body=_lend("The Riverbend Almanac", "S-2")),
    Call("lending_request", "POST", LEND_PATH, LENDER, body=_lend("Not held anywhere", "S-3")),
    # {request_id} is the id the last create answered with.
    Call("lending_request", "GET", LEND_PATH + "/{request_id}", LENDER),
    Call("lending_request", "GET", LEND_PATH + "/{request_id}", LENDER),
    Call("task_list", "GET", "/task-lists/rs/lending-requests", LENDER, (("library", "RIVER"),)),
    Call(
        "task_list",
        "GET",
        "/task-lists/rs/lending-requests",
        LENDER,
        (("library", "RIVER"), ("status", "EXPIRED")),
    ),
    # The accepted S-1 on the lender's pick-from-shelf list.
    Call(
        "task_list",
        "GET",
        "/task-lists/requested-resources",
        LENDER,
        (("library", "RIVER"), ("circ_desk", "RS_DESK")),
    ),
    Call("error", "GET", "/users/nobody"),
    Call("error", "GET", "/conf/libraries/NOPE"),
    Call("error", "GET", "/conf/nothing-here"),
    Call("error", "POST", "/users/P2P-TEST-NORS-01/resource-sharing-requests", body={}),
    Call("error", "GET", "/conf/general", key="l7xxNOTAKEY"),
    # Analytics is read-only for the demo keys: UNAUTHORIZED, XML unless played as JSON.
    Call("error", "POST", "/analytics/test", json_by_default=False),
)
# Answers that are not JSON, and what declares their form instead.
NOT_JSON = {
    "/analytics/reports": "analytics.xml_shape",
}


def key_paths(data: object, prefix: str = "") -> Iterator[str]:
    """Every key path of a JSON value; an empty list gives ``<path>[]``."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from key_paths(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list):
        if not data:
            yield f"{prefix}[]"
        for value in data:
            yield from key_paths(value, f"{prefix}[]")
    else:
        yield prefix


def _prefixes(path: str) -> Iterator[str]:
    for i, char in enumerate(path):
        if char in ".[":
            yield path[:i]
    yield path


def captured_paths(kind: Kind) -> frozenset[str]:
    """The paths (and their prefixes) the kind's real captures show, under the list key if
    any; a documentation sample does not count."""
    paths: set[str] = set()
    for name in kind.captures:
        if name in DOCUMENTATION:
            continue
        data = json.loads((CAPTURES / name).read_text(encoding="utf-8"))
        for path in key_paths(data):
            shown = f"{kind.list_key}[].{path}" if kind.list_key else path
            paths.update(_prefixes(shown))
    if kind.list_key:
        paths.add("total_record_count")  # the envelope of every captured list
    return frozenset(paths)


def declared_paths() -> dict[str, dict[str, str]]:
    """kind → declared path → the fact that declares it."""
    declared: dict[str, dict[str, str]] = {}
    for fact in load_register():
        for kind, paths in fact.paths.items():
            for path in paths:
                declared.setdefault(kind, {})[path] = fact.id
    return declared


def answers(world: World, *, strict: bool = True) -> Iterator[tuple[str, Call, object]]:
    """Each call of ``CALLS`` made to a stand-in of ``world``: the kind its answer is, the
    call, and its JSON. ``strict``: each call must be answered as ``CALLS`` expects (an
    alternative may refuse what the default accepts, or answer a probe in XML or text)."""
    app = StandinApp(world)
    request_id = ""
    with httpx.Client(
        transport=httpx.WSGITransport(app=app), base_url=BASE, follow_redirects=True
    ) as http:
        for call in CALLS:
            response = http.request(
                call.method,
                call.path.format(request_id=request_id),
                params=dict(call.params),
                json=call.body,
                headers={"Authorization": f"apikey {call.key}", "Accept": "application/json"},
            )
            kind = "error" if response.status_code >= 400 else call.kind
            is_json = response.headers.get("content-type", "").startswith("application/json")
            if strict:
                assert is_json == call.json_by_default, (
                    f"{call}: answered {response.headers.get('content-type')}"
                )
                assert kind == call.kind, f"{call}: answered {response.status_code}"
            if not is_json:
                continue
            data = response.json()
            if kind == "lending_request" and call.method == "POST":
                request_id = data["request_id"]
            yield kind, call, data


def unbacked(world: World, *, strict: bool = True) -> list[str]:
    """``kind: path (request)`` for every path no capture of its kind shows and no fact
    declares."""
    declared = declared_paths()
    problems = []
    seen: set[tuple[str, str]] = set()
    for kind, call, data in answers(world, strict=strict):
        shown = captured_paths(KINDS[kind])
        for path in key_paths(data):
            if (kind, path) in seen:
                continue
            seen.add((kind, path))
            if path not in shown and path not in declared.get(kind, {}):
                problems.append(f"{kind}: {path}  ({call})")
    return problems


@functools.cache
def _demo() -> str:
    return DEMO.read_text(encoding="utf-8")


def _world(facts: dict[str, str] | None = None) -> World:
    data = yaml.safe_load(_demo())
    if facts:
        data["facts"] = facts
    return World.model_validate(data)


MESSAGE = (
    "The stand-in gives key paths that no real capture of that kind of answer shows "
    "(shared/reference/captures/) and no fact of src/alma_p2p/facts.yaml declares. Remove "
    "each from src/alma_p2p/standin/render.py, or, when the harness or a scenario relies on "
    "it, add it to the paths of the fact that assumes it:\n"
)


def test_every_path_of_the_default_answers_is_captured_or_declared() -> None:
    problems = unbacked(_world())
    assert not problems, MESSAGE + "\n".join(problems)


ALTERNATIVES = [(fact.id, word) for fact in load_register() for word in fact.switches[1:]]


@pytest.mark.parametrize(("fact_id", "word"), ALTERNATIVES)
def test_every_path_of_an_alternative_is_captured_or_declared(fact_id: str, word: str) -> None:
    problems = unbacked(_world({fact_id: word}), strict=False)
    assert not problems, MESSAGE + "\n".join(problems)


def test_every_route_of_the_stand_in_is_asked_for() -> None:
    asked = {(call.path, call.method) for call in CALLS}
    adapter = ROUTES.bind("standin")
    endpoints = set()
    for path, method in asked:
        try:
            endpoint, _ = adapter.match(path.format(request_id="1"), method=method)
        except Exception:  # an error call: no route
            continue
        endpoints.add(endpoint)
    missing = sorted(
        rule.rule
        for rule in ROUTES.iter_rules()
        if rule.endpoint not in endpoints
        and rule.rule not in NOT_JSON
        and not rule.rule.endswith("/test")
    )
    assert not missing, f"routes no call of CALLS asks for: {missing}"


def test_declared_paths_name_kinds_of_answer() -> None:
    unknown = sorted(set(declared_paths()) - set(KINDS))
    assert not unknown, f"facts.yaml paths: name kinds that do not exist: {unknown}"


def test_an_undeclared_path_fails_with_its_kind_and_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from alma_p2p.standin import render

    original = render.partner

    def with_extra(partner: Any, base: str, **played: str) -> dict[str, Any]:
        record = original(partner, base, **played)
        record["partner_details"]["secret_sauce"] = 1
        return record

    monkeypatch.setattr(render, "partner", with_extra)
    problems = unbacked(_world())
    assert "partner: partner_details.secret_sauce  (GET /partners/DEMO_LENDER)" in problems
