"""The register of Alma facts: it loads, every UNVERIFIED marker names one of its facts, and
the README's assumptions section is its rendering."""

from __future__ import annotations

import ast
import importlib
import io
import re
import tokenize
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from alma_p2p import cli
from alma_p2p.facts import (
    FACT_ID,
    README_HEADING,
    Fact,
    FactsError,
    Register,
    load_register,
    parse_register,
    render_markdown,
)

REPO = Path(__file__).resolve().parent.parent
FEATURES = REPO / "src" / "alma_p2p" / "suite" / "features"
# A copy of shared/reference/captures (real Alma answers, SOURCES.md says whence), kept in
# the repository so the tests never depend on a folder beside it (test_captures.py compares).
CAPTURES = REPO / "tests" / "captures"
FACTS_MODULE = REPO / "src" / "alma_p2p" / "facts.py"
MARKED = re.compile(r"UNVERIFIED\((?P<id>[^)]*)\)")
WORD = re.compile(r"UNVERIFIED")


@pytest.fixture(scope="module")
def register() -> Register:
    return load_register()


# -- the register itself ------------------------------------------------------------


def test_the_register_loads_and_validates(register: Register) -> None:
    assert len(register) > 0
    assert {f.kind for f in register} == {"field", "code", "behaviour"}
    assert all(isinstance(f, Fact) for f in register)
    assert load_register() is register  # validated once, then cached


def test_fact_ids_are_unique(register: Register) -> None:
    ids = [f.id for f in register]
    assert len(ids) == len(set(ids))


def test_a_fact_is_found_by_id(register: Register) -> None:
    fact = register.fact("lending.reject_status_code")
    assert fact.assumed == "REJECTED"
    assert "lending.reject_status_code" in register


def test_an_unknown_id_names_the_register_and_the_near_ids(register: Register) -> None:
    with pytest.raises(KeyError, match=r"facts\.yaml.*lending\.reject_status_code"):
        register.fact("lending.no_such_fact")


def test_a_repeated_id_is_refused() -> None:
    text = (REPO / "src/alma_p2p/facts.yaml").read_text(encoding="utf-8")
    first = text.index("  - id: ")
    second = text.index("  - id: ", first + 1)
    entry = text[first:second]
    with pytest.raises(FactsError, match=r"listed twice: gateway\.environment_type_form"):
        parse_register(text + entry)


def test_a_broken_entry_is_reported_with_its_place() -> None:
    text = """
version: 1
facts:
  - id: Not An Id
    kind: guess
    statement: s
    assumed: a
    alternatives: []
    evidence: [none]
    probe: p
    probe_safety: none
"""
    with pytest.raises(FactsError) as raised:
        parse_register(text, "bad.yaml")
    message = str(raised.value)
    assert message.startswith("bad.yaml: not a valid register")
    for place in ("facts.0.id", "facts.0.kind", "facts.0.alternatives"):
        assert place in message


def test_a_fact_that_cannot_be_probed_says_why() -> None:
    text = """
version: 1
facts:
  - id: a.b
    kind: code
    statement: s
    assumed: a
    alternatives: [{value: v, evidence: none}]
    evidence: [none]
    probe: later
    probe_safety: none
"""
    with pytest.raises(FactsError, match="cannot be probed"):
        parse_register(text)


def test_the_register_ships_with_the_package() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "facts.yaml" in pyproject["tool"]["setuptools"]["package-data"]["alma_p2p"]


# -- the markers in the code --------------------------------------------------------


@dataclass(frozen=True)
class Occurrence:
    """The word UNVERIFIED in a source file, and where it stands."""

    path: str
    line: int
    where: str  # "comment" | "docstring" | "string" (a message the program prints)
    fact_id: str | None  # None: a bare UNVERIFIED
    statement: tuple[int, int]  # lines of the innermost statement holding it


def _docstring_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                end = body[0].end_lineno or body[0].lineno
                lines.update(range(body[0].lineno, end + 1))
    return lines


def _statement_of(tree: ast.Module, line: int) -> tuple[int, int]:
    """The innermost statement spanning ``line``."""
    best = (1, 10**9)
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            end = node.end_lineno or node.lineno
            if node.lineno <= line <= end and end - node.lineno <= best[1] - best[0]:
                best = (node.lineno, end)
    return best


def _ids(text: str) -> list[str | None]:
    """For each UNVERIFIED in ``text``: the id it names, or None when bare."""
    named = {m.start(): m.group("id") for m in MARKED.finditer(text)}
    return [named.get(m.start()) for m in WORD.finditer(text)]


def occurrences(path: Path) -> list[Occurrence]:
    source = path.read_text(encoding="utf-8")
    if "UNVERIFIED" not in source:
        return []
    tree = ast.parse(source)
    docstrings = _docstring_lines(tree)
    comments = {
        tok.start[0]: (tok.start[1], tok.string)
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }
    shown = str(path.relative_to(REPO))
    found = []
    for number, text in enumerate(source.splitlines(), start=1):
        if "UNVERIFIED" not in text:
            continue
        column, comment = comments.get(number, (len(text), ""))
        code = text[:column]
        statement = _statement_of(tree, number)
        for fact_id in _ids(comment):
            found.append(Occurrence(shown, number, "comment", fact_id, statement))
        where = "docstring" if number in docstrings else "string"
        for fact_id in _ids(code):
            found.append(Occurrence(shown, number, where, fact_id, statement))
    return found


@pytest.fixture(scope="module")
def markers() -> list[Occurrence]:
    files = sorted((REPO / "src").rglob("*.py"))
    # facts.py defines the marker, so it spells ``UNVERIFIED(<id>)`` without naming a fact.
    return [o for path in files if path != FACTS_MODULE for o in occurrences(path)]


def test_the_code_marks_what_it_assumes(markers: list[Occurrence]) -> None:
    assert len([m for m in markers if m.fact_id]) >= 40


def test_every_marker_names_a_fact_of_the_register(
    markers: list[Occurrence], register: Register
) -> None:
    unknown = [
        f"{m.path}:{m.line}: UNVERIFIED({m.fact_id})"
        for m in markers
        if m.fact_id is not None
        and (not re.fullmatch(FACT_ID, m.fact_id) or m.fact_id not in register)
    ]
    assert not unknown, "markers naming no fact of src/alma_p2p/facts.yaml:\n" + "\n".join(unknown)


def test_no_comment_or_docstring_says_unverified_without_a_fact_id(
    markers: list[Occurrence],
) -> None:
    bare = [
        f"{m.path}:{m.line} ({m.where})"
        for m in markers
        if m.fact_id is None and m.where != "string"
    ]
    assert not bare, "write UNVERIFIED(<fact id>) instead of a bare UNVERIFIED:\n" + "\n".join(bare)


def test_a_printed_unverified_sits_in_a_statement_marked_with_its_fact(
    markers: list[Occurrence],
) -> None:
    """Messages users see keep their words; a comment on or just before the statement names
    the fact."""
    marked = {(m.path, m.line) for m in markers if m.where == "comment" and m.fact_id is not None}
    loose = [
        f"{m.path}:{m.line}"
        for m in markers
        if m.where == "string"
        and m.fact_id is None
        and not any(
            (m.path, line) in marked for line in range(m.statement[0] - 1, m.statement[1] + 1)
        )
    ]
    assert not loose, "printed UNVERIFIED without a marked statement:\n" + "\n".join(loose)


def test_every_fact_is_marked_in_the_code_or_names_its_checks(
    markers: list[Occurrence], register: Register
) -> None:
    used = {m.fact_id for m in markers}
    orphans = [f.id for f in register if f.id not in used and not f.checks]
    assert not orphans, f"facts nothing relies on: {orphans}"


# -- what the register points at ------------------------------------------------------


def test_the_checks_name_existing_scenarios_and_modules(register: Register) -> None:
    problems = []
    for fact in register:
        for check in fact.checks:
            if check.startswith("features/"):
                problems += _missing_scenario(fact.id, check)
            else:
                problems += _missing_module(fact.id, check.split(" ", 1)[0])
    assert not problems, "\n".join(problems)


def _missing_scenario(fact_id: str, check: str) -> list[str]:
    feature, _, name = check.partition(": ")
    # ``features/…`` names a standard feature, shipped in the package.
    path = FEATURES / feature.removeprefix("features/")
    if not path.is_file():
        return [f"{fact_id}: no feature file {feature}"]
    name = name.split(" (", 1)[0]
    text = path.read_text(encoding="utf-8")
    if name == "every scenario" or re.search(
        rf"^\s*Scenario(?: Outline)?: {re.escape(name)}\s*$", text, re.MULTILINE
    ):
        return []
    return [f"{fact_id}: {feature} has no scenario {name!r}"]


def _missing_module(fact_id: str, dotted: str) -> list[str]:
    # ``steps.…`` names a standard step module, shipped in the package.
    if dotted.startswith("steps."):
        dotted = "alma_p2p.suite." + dotted
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return [f"{fact_id}: {dotted} does not exist"]
            target = getattr(target, attribute)
        return []
    return [f"{fact_id}: no module for {dotted}"]


def test_capture_evidence_names_existing_captures(register: Register) -> None:
    missing = [
        f"{f.id}: captures/{name}"
        for f in register
        for name in sorted(f.capture_files)
        if not (CAPTURES / name).is_file()
    ]
    assert not missing, "evidence names captures that do not exist:\n" + "\n".join(missing)


def test_some_evidence_names_captures(register: Register) -> None:
    assert any(f.capture_files for f in register)


# -- the README -------------------------------------------------------------------


def _readme_section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(README_HEADING)
    end = text.find("\n## ", start)
    return text[start : end + 1] if end >= 0 else text[start:]


def test_the_readme_section_is_the_register_rendered(register: Register) -> None:
    assert _readme_section() == render_markdown(register), (
        "README.md's assumptions section differs from the register: replace it with the "
        "output of `alma-p2p facts`"
    )


def test_the_rendering_lists_every_fact(register: Register) -> None:
    text = render_markdown(register)
    assert text.startswith(README_HEADING + "\n")
    assert all(f"`{f.id}`" in text for f in register)


def test_alma_p2p_facts_prints_the_rendering(
    register: Register, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["facts"]) == 0
    assert capsys.readouterr().out == render_markdown(register)
