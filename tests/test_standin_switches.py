"""The stand-in plays each alternative of the facts it can switch, through the harness's client.

A world file sets ``facts: {<fact id>: <switch word>}`` on an institution (or at the top, for
every institution and for keys no institution holds); the words are the register's
(``facts.yaml``: a fact's ``switch`` and its alternatives' ``switch``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alma_p2p import payloads
from alma_p2p.alma import AlmaBadRequest, AlmaClient, AlmaForbidden, AlmaUnauthorized
from alma_p2p.alma.errors import AlmaAPIError, NotAnAlmaGateway
from alma_p2p.facts import FactsError, load_register, parse_register
from alma_p2p.standin import StandinApp, World, WorldError, load_world
from alma_p2p.standin.worlds import DEMO_WORLD as PACKAGED_DEMO_WORLD

DEMO = PACKAGED_DEMO_WORLD
RAW = yaml.safe_load(DEMO.read_text())
UNIVERSITY, COLLEGE, LENDER = "01DEMO_STMARYS", "01DEMO_COLLEGE", "01DEMO_LENDER"
KEYS = {UNIVERSITY: "demo-university-key", COLLEGE: "demo-college-key", LENDER: "demo-lender-key"}


def playing(facts: dict[str, str], institution: str | None = UNIVERSITY) -> StandinApp:
    """A stand-in of the demo world with ``facts`` set on one institution (None: the world)."""
    data = copy.deepcopy(RAW)
    if institution is None:
        data["facts"] = facts
    else:
        next(i for i in data["institutions"] if i["code"] == institution)["facts"] = facts
    return StandinApp(World.model_validate(data))


def client(app: StandinApp, institution: str = UNIVERSITY, key: str | None = None) -> AlmaClient:
    return AlmaClient(
        base_url="http://standin.test/almaws/v1",
        api_key=key or KEYS[institution],
        transport=httpx.WSGITransport(app=app),
        backoff=0,
        rate_per_second=None,
    )


def raw(app: StandinApp, path: str, institution: str = UNIVERSITY, **params: str) -> Any:
    return client(app, institution).get_json(path, params or None, cache=False)


# -- the world file ----------------------------------------------------------------


def test_every_switchable_fact_names_its_assumed_word_first() -> None:
    switchable = {f.id: f.switches for f in load_register() if f.switches}
    assert set(switchable) >= {
        "lending.reject_status_code",
        "lending.not_held_outcome",
        "lending.auto_reject_timing",
        "borrowing.owner_when_omitted",
        "borrowing.no_rs_library_error",
        "borrowing.no_partner_holds_outcome",
        "gateway.environment_type_form",
        "jobs.status_field",
        "lists.empty_page_shape",
        "gateway.unauthorized_as_xml",
        "gateway.probe_body_format",
        "gateway.invalid_key_status",
        "patron.no_rs_library_shape",
    }
    for fact_id, words in switchable.items():
        fact = load_register().fact(fact_id)
        assert words[0] == fact.switch
        assert len(words) == 1 + len(fact.alternatives), f"{fact_id}: an alternative has no word"


def _world_file(tmp_path: Path, facts: str) -> Path:
    text = DEMO.read_text().replace(
        "    environment_type: sandbox\n", f"    environment_type: sandbox\n    facts: {facts}\n", 1
    )
    path = tmp_path / "world.yaml"
    path.write_text(text)
    return path


# Facts the stand-in could play but does not yet: each says what is missing. Keep it short.
NOT_YET_PLAYED: dict[str, str] = {}


def test_every_fact_is_played_or_says_why_not() -> None:
    # DESIGN, Truth rule 1: the stand-in can play each alternative of what it assumes.
    register = load_register()
    silent = [f.id for f in register if not f.switches and not f.not_played]
    assert sorted(silent) == sorted(NOT_YET_PLAYED), (
        "facts with neither switches nor not_played (add switches the stand-in plays, or "
        f"say why it cannot in not_played): {sorted(set(silent) - set(NOT_YET_PLAYED))}; "
        f"played now, remove from NOT_YET_PLAYED: {sorted(set(NOT_YET_PLAYED) - set(silent))}"
    )


def test_a_world_file_switches_a_fact_per_institution(tmp_path: Path) -> None:
    world = load_world(_world_file(tmp_path, "{lending.reject_status_code: REJECT}"))
    codes = {i.code: i.plays("lending.reject_status_code") for i in world.institutions}
    assert codes == {UNIVERSITY: "REJECT", COLLEGE: "REJECTED", LENDER: "REJECTED"}


def test_an_unknown_fact_id_is_a_world_error_naming_the_line(tmp_path: Path) -> None:
    path = _world_file(tmp_path, "{lending.reject_code: REJECT}")
    line = 1 + path.read_text().splitlines().index("    facts: {lending.reject_code: REJECT}")
    with pytest.raises(WorldError) as caught:
        load_world(path)
    message = str(caught.value)
    assert f"line {line}, institutions[0].facts: lending.reject_code: no such fact" in message
    assert "src/alma_p2p/facts.yaml" in message


def test_a_value_that_is_not_an_alternative_is_a_world_error_naming_the_line(
    tmp_path: Path,
) -> None:
    path = _world_file(tmp_path, "{lending.reject_status_code: DECLINED}")
    line = 1 + path.read_text().splitlines().index(
        "    facts: {lending.reject_status_code: DECLINED}"
    )
    with pytest.raises(WorldError) as caught:
        load_world(path)
    assert (
        f"line {line}, institutions[0].facts: lending.reject_status_code: 'DECLINED' is not one "
        "of REJECTED, REJECT, other"
    ) in str(caught.value)


def test_a_fact_the_stand_in_cannot_play_is_refused() -> None:
    data = copy.deepcopy(RAW)
    data["facts"] = {"gateway.sandbox_same_host": "separate"}
    with pytest.raises(ValueError, match="the stand-in cannot play this fact's alternatives"):
        World.model_validate(data)


def test_world_level_facts_apply_to_every_institution_unless_one_says_otherwise() -> None:
    data = copy.deepcopy(RAW)
    data["facts"] = {"jobs.status_field": "absent"}
    data["institutions"][1]["facts"] = {"jobs.status_field": "present"}
    world = World.model_validate(data)
    assert [i.plays("jobs.status_field") for i in world.institutions] == [
        "absent",
        "present",
        "absent",
    ]


def test_the_older_no_rs_library_error_setting_and_the_fact_must_agree() -> None:
    data = copy.deepcopy(RAW)
    data["institutions"][0]["no_rs_library_error"] = "401768"
    data["institutions"][0]["facts"] = {"borrowing.no_rs_library_error": 401607}
    with pytest.raises(ValueError, match="disagree"):
        World.model_validate(data)


# -- the gateway ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("plain", "sandbox"),
        ("code_table", {"value": "SANDBOX", "desc": "Sandbox"}),
        ("upper", "SANDBOX"),
    ],
)
def test_environment_type_form(word: str, expected: object) -> None:
    app = playing({"gateway.environment_type_form": word})
    assert raw(app, "/conf/general")["environment_type"] == expected


@pytest.mark.parametrize(
    ("word", "content_type", "body"),
    [
        ("json", "application/json", '{"test": "GET - OK - institutionCode: 01DEMO_STMARYS"}'),
        ("xml", "application/xml", "<test>GET - OK - institutionCode: 01DEMO_STMARYS</test>"),
        ("text", "text/plain", "GET - OK - institutionCode: 01DEMO_STMARYS"),
    ],
)
def test_probe_body_format(word: str, content_type: str, body: str) -> None:
    app = playing({"gateway.probe_body_format": word})
    answer = client(app).get_text("/users/operation/test", accept="application/json")
    assert body in answer


def test_probe_body_format_reaches_the_content_type() -> None:
    app = playing({"gateway.probe_body_format": "xml"})
    seen: list[str] = []
    alma = client(app)
    alma.on_response(lambda r: seen.append(r.headers["content-type"]))
    alma.get_text("/users/operation/test")
    assert seen == ["application/xml;charset=UTF-8"]


def _without_users_area(data: dict[str, Any]) -> None:
    areas = data["institutions"][0]["api_keys"][0]["areas"]
    data["institutions"][0]["api_keys"][0]["areas"] = {
        k: v for k, v in areas.items() if k != "Users"
    }


@pytest.mark.parametrize(("word", "content_type"), [("xml", "xml"), ("json", "json")])
def test_unauthorized_as_xml_or_json(word: str, content_type: str) -> None:
    data = copy.deepcopy(RAW)
    _without_users_area(data)
    data["institutions"][0]["facts"] = {"gateway.unauthorized_as_xml": word}
    app = StandinApp(World.model_validate(data))
    seen: list[str] = []
    alma = client(app)
    alma.on_response(lambda r: seen.append(r.headers["content-type"]))
    with pytest.raises(AlmaUnauthorized) as caught:
        alma.user("P2P-TEST-WIN-01")
    assert caught.value.codes == ("UNAUTHORIZED",)
    assert content_type in seen[-1]


@pytest.mark.parametrize(
    ("word", "error", "status"),
    [
        ("403", AlmaForbidden, 403),
        ("400", AlmaUnauthorized, 400),
        # An HTML 401 page: the harness takes it for a host that is not an API gateway.
        ("401", NotAnAlmaGateway, 401),
    ],
)
def test_invalid_key_status(
    word: str, error: type[AlmaAPIError | NotAnAlmaGateway], status: int
) -> None:
    app = playing({"gateway.invalid_key_status": word}, institution=None)
    with pytest.raises(error) as caught:
        client(app, key="l7xxNOTAKEY").general()
    assert caught.value.status == status
    assert "l7xxNOTAKEY" not in str(caught.value)


# -- lists and jobs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("missing", {"total_record_count": 0}),
        ("empty_list", {"user": [], "total_record_count": 0}),
        ("null", {"user": None, "total_record_count": 0}),
    ],
)
def test_empty_page_shape(word: str, expected: dict[str, Any]) -> None:
    app = playing({"lists.empty_page_shape": word})
    assert raw(app, "/users", q="primary_id~nobody") == expected
    # and the harness reads every form as an empty page
    assert client(app).users("primary_id~nobody").records == ()


@pytest.mark.parametrize("word", ["missing", "empty_list", "null"])
def test_empty_task_list_shape(word: str) -> None:
    app = playing({"lists.empty_page_shape": word}, LENDER)
    assert client(app, LENDER).lending_task_list("RIVER", status="REJECTED") == ()


@pytest.mark.parametrize(
    ("word", "has_status", "idle_next_run"),
    [("present", True, None), ("absent", False, None), ("next_run_only", False, "")],
)
def test_job_status_field(word: str, has_status: bool, idle_next_run: object) -> None:
    data = copy.deepcopy(RAW)
    data["institutions"][0]["jobs"] = [
        {**copy.deepcopy(data["institutions"][0]["jobs"][0]), "active": False}
    ]
    data["institutions"][0]["facts"] = {"jobs.status_field": word}
    app = StandinApp(World.model_validate(data))
    (job,) = raw(app, "/conf/jobs", type="SCHEDULED")["job"]
    assert ("status" in job) == has_status
    assert job["next_run"] == idle_next_run


# -- borrowing ----------------------------------------------------------------------------


def borrow(app: StandinApp, user: str, title: str = "Unheld one", owner: str | None = None):
    body = payloads.borrowing_request(
        title=title, external_id=f"E-{user}", pickup_library="WIN", owner=owner
    )
    return client(app).create_borrowing_request(user, body)


def test_owner_when_omitted_is_the_patrons_library() -> None:
    app = playing({"borrowing.owner_when_omitted": "patron_rs_library"})
    assert borrow(app, "P2P-TEST-TC-01").owner == "TC"


def test_owner_when_omitted_refused_with_401607() -> None:
    app = playing({"borrowing.owner_when_omitted": "401607"})
    with pytest.raises(AlmaBadRequest) as caught:
        borrow(app, "P2P-TEST-TC-01")
    assert caught.value.codes == ("401607",)
    assert borrow(app, "P2P-TEST-TC-01", owner="TC").owner == "TC"  # naming it still works


def test_owner_when_omitted_is_the_default_rs_library() -> None:
    app = playing({"borrowing.owner_when_omitted": "default_rs_library"})
    assert borrow(app, "P2P-TEST-TC-01").owner == "WIN"  # the first RS library


@pytest.mark.parametrize(("word", "code"), [("401768", "401768"), ("401607", "401607")])
def test_no_rs_library_error_codes(word: str, code: str) -> None:
    app = playing({"borrowing.no_rs_library_error": word})
    with pytest.raises(AlmaBadRequest) as caught:
        borrow(app, "P2P-TEST-NORS-01")
    assert caught.value.codes == (code,)


def test_no_rs_library_error_default_owner_creates_the_request() -> None:
    app = playing({"borrowing.no_rs_library_error": "default_rs_library"})
    assert borrow(app, "P2P-TEST-NORS-01").owner == "WIN"


def _sent(app: StandinApp, title: str) -> tuple[str | None, str | None]:
    created = borrow(app, "P2P-TEST-WIN-01", title)
    read = client(app).borrowing_request("P2P-TEST-WIN-01", created.request_id or "")
    return read.status.value, read.partner.value


@pytest.mark.parametrize(
    ("word", "unheld", "held_by_lender"),
    [
        ("sent", ("REQUEST_SENT", "DEMO_LENDER"), ("REQUEST_SENT", "DEMO_LENDER")),
        ("locate_failed", ("LOCATE_FAILED", None), ("REQUEST_SENT", "DEMO_LENDER")),
        ("cancelled", ("CANCELLED", None), ("REQUEST_SENT", "DEMO_LENDER")),
    ],
)
def test_no_partner_holds_outcome(
    word: str, unheld: tuple[str, str | None], held_by_lender: tuple[str, str]
) -> None:
    assert _sent(playing({"borrowing.no_partner_holds_outcome": word}), "Unheld one") == unheld
    app = playing({"borrowing.no_partner_holds_outcome": word})
    assert _sent(app, "Bridges of Riverbend") == held_by_lender


# -- lending ------------------------------------------------------------------------------


def lend(app: StandinApp, title: str, reads: int = 1) -> list[str | None]:
    """The status of a new lending request in the create answer and at each read."""
    alma = client(app, LENDER)
    body = payloads.lending_request(
        partner="DEMO_STMARYS", owner="RIVER", title=title, external_id=f"L-{title}"
    )
    created = alma.create_lending_request("DEMO_STMARYS", body)
    statuses = [created.status.value]
    for _ in range(reads):
        statuses.append(alma.lending_request("DEMO_STMARYS", created.request_id or "").status.value)
    return statuses


@pytest.mark.parametrize(
    ("word", "code"), [("REJECTED", "REJECTED"), ("REJECT", "REJECT"), ("other", "LENDER_REJECTED")]
)
def test_reject_status_code(word: str, code: str) -> None:
    app = playing({"lending.reject_status_code": word}, LENDER)
    assert lend(app, "The Riverbend Almanac") == [code, code]


@pytest.mark.parametrize(
    ("word", "statuses"),
    [
        ("locate_failed", ["LOCATE_FAILED", "LOCATE_FAILED", "LOCATE_FAILED"]),
        ("rejected", ["REJECTED", "REJECTED", "REJECTED"]),
        ("later", ["LOCATE_IN_PROCESS", "LOCATE_IN_PROCESS", "LOCATE_FAILED"]),
    ],
)
def test_not_held_outcome(word: str, statuses: list[str]) -> None:
    app = playing({"lending.not_held_outcome": word}, LENDER)
    assert lend(app, "Nowhere Held", reads=2) == statuses


@pytest.mark.parametrize(
    ("word", "statuses"),
    [
        ("at_once", ["REJECTED", "REJECTED", "REJECTED"]),
        ("after_first_read", ["LOCATE_IN_PROCESS", "LOCATE_IN_PROCESS", "REJECTED"]),
        ("by_job", ["REQUEST_CREATED_LEND"] * 3),
    ],
)
def test_auto_reject_timing(word: str, statuses: list[str]) -> None:
    app = playing({"lending.auto_reject_timing": word}, LENDER)
    assert lend(app, "Atlas of Local Waters", reads=2) == statuses
    # a request that is not rejected is created at once whatever the timing
    assert lend(app, "Bridges of Riverbend") == ["REQUEST_CREATED_LEND"] * 2


def test_a_late_rejection_uses_the_played_code() -> None:
    app = playing(
        {"lending.auto_reject_timing": "after_first_read", "lending.reject_status_code": "REJECT"},
        LENDER,
    )
    assert lend(app, "Atlas of Local Waters", reads=2)[-1] == "REJECT"


def test_no_key_at_all_is_unauthorized_whatever_the_invalid_key_status() -> None:
    app = playing({"gateway.invalid_key_status": "403"}, institution=None)
    with httpx.Client(transport=httpx.WSGITransport(app=app)) as http:
        answer = http.get("http://standin.test/almaws/v1/conf/general")
    assert answer.status_code == 400
    assert "<errorCode>UNAUTHORIZED</errorCode>" in answer.text


# -- the register's switch words and paths ---------------------------------------------

REGISTER = """
version: 1
facts:
  - id: lending.some_code
    kind: code
    statement: s
    assumed: a
    {switch}
    alternatives:
      - value: b
        evidence: none
        {alternative_switch}
    evidence: [none]
    probe: p
    probe_safety: read
    {paths}
"""


def register(switch: str = "", alternative_switch: str = "", paths: str = "") -> str:
    return REGISTER.format(switch=switch, alternative_switch=alternative_switch, paths=paths)


def test_a_fact_with_switch_words_lists_them_assumed_first() -> None:
    parsed = parse_register(register("switch: A", "switch: B"))
    assert parsed.fact("lending.some_code").switches == ("A", "B")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (register("", "switch: B"), "the assumed value needs one"),
        (register("switch: A", "switch: A"), "switch words repeat"),
        (register("switch: 'A B'", "switch: B"), "facts.0.switch"),
        (register(paths="paths: {partner: ['not a path!']}"), "facts.0.paths.partner.0"),
    ],
)
def test_broken_switch_words_and_paths_are_refused(text: str, problem: str) -> None:
    with pytest.raises(FactsError) as raised:
        parse_register(text, "bad.yaml")
    assert problem in str(raised.value)


def test_declared_paths_are_read_by_kind() -> None:
    parsed = parse_register(register(paths="paths: {partner: [partner_details.code, 'note[]']}"))
    assert parsed.fact("lending.some_code").paths == {"partner": ("partner_details.code", "note[]")}


@pytest.mark.parametrize(
    ("word", "form"),
    [
        ("missing", "no key"),
        ("empty_list", []),
        ("empty_code", [{"code": {"value": ""}}]),
        ("null_value", None),
    ],
)
def test_a_patron_without_rs_library_comes_back_as_played(word: str, form: Any) -> None:
    app = playing({"patron.no_rs_library_shape": word})
    data = raw(app, "/users/P2P-TEST-NORS-01")
    assert data.get("rs_library", "no key") == form
    # and the harness reads every form as no RS library; a patron with one keeps it
    assert client(app).user("P2P-TEST-NORS-01").rs_library_codes == ()
    assert client(app).user("P2P-TEST-WIN-01").rs_library_codes == ("WIN",)
