"""The readiness report: one answer per guide item and per behaviour, per institution.

Written after every run as ``readiness.md`` and a self-contained ``readiness.html`` (no
external assets; opens offline). Verdicts: pass, fail, cannot tell, error, manual, attested,
stale, not run, n/a.
The header says what the run was: its date, the harness version, the mode, the selection
(``-k``, ``-m``, institutions), the cassettes' dates, and whether it stopped early. A scenario
the selection left out is *not run (not selected)*; one a stopped run never reached is *not
run (run stopped early)*: neither lets an item it belongs to read as passed.
Each institution also gets an "Alma facts" section: which facts of the register its sandbox
confirmed through ``alma-p2p calibrate`` (value, date), and which the run still assumes.
An item's verdict is the worst of its scenarios': one failure fails it, and an item proven
partly through the API and partly by a person stays ``manual`` until a person checks it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from alma_p2p.facts import Facts
from alma_p2p.files import write_atomic
from alma_p2p.guide import GUIDE

# Worst first: an item's verdict is the worst of its scenarios'.
ORDER = ("fail", "error", "cannot tell", "not run", "stale", "manual", "attested", "pass", "n/a")
# Verdicts a scenario ends with through a typed outcome (alma_p2p.outcomes) or the harness.
OUTCOME_VERDICTS = ("cannot tell", "error", "manual", "attested", "stale")
COLOURS = {
    "pass": "#1b7f3a",
    "attested": "#2f6fb0",
    "manual": "#8a6d00",
    "stale": "#b35c00",
    "not run": "#6b6b6b",
    "fail": "#b3261e",
    "error": "#7a1f7a",
    "cannot tell": "#8a4b08",
    "n/a": "#9e9e9e",
}


@dataclass
class ScenarioResult:
    """What one scenario said at one institution."""

    institution: str
    feature: str
    scenario: str
    guide_items: tuple[str, ...]
    kinds: tuple[str, ...]  # api, behaviour, manual
    verdict: str  # one of ORDER
    message: str = ""
    evidence: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.institution, self.feature, self.scenario)


NOT_SELECTED = "not selected"
STOPPED_EARLY = "run stopped early"


def not_run(result: ScenarioResult) -> str:
    """``not run (<why>)`` for a scenario that did not run (its message says why)."""
    return f"not run ({result.message})" if result.message else "not run"


@dataclass
class RunInfo:
    """What the run was, for the report's header (and the result file's ``run``)."""

    date: str = ""  # ISO 8601, UTC
    harness_version: str = ""
    mode: str = ""
    selection: dict[str, str] = field(default_factory=dict)  # "-k" → expression, …
    stopped_early: str = ""  # why, when it did
    cassettes: dict[str, str] = field(default_factory=dict)  # institution → recorded on
    names: dict[str, str] = field(default_factory=dict)  # institution → its Alma name


class HasRows(Protocol):
    def rows(self) -> list[tuple[str, str, str, str]]: ...


@dataclass(frozen=True)
class FactRows:
    """An institution's Alma facts as a result file carries them (``Facts.rows()``)."""

    table: tuple[tuple[str, str, str, str], ...]

    def rows(self) -> list[tuple[str, str, str, str]]:
        return list(self.table)


def verdict_of(outcome: str, verdict: str | None = None) -> str:
    """A scenario's verdict: the one its typed outcome or the harness gave (cannot tell,
    error, manual, attested, stale), else from its pytest outcome."""
    if verdict in OUTCOME_VERDICTS:
        return verdict
    if outcome == "passed":
        return "pass"
    if outcome == "failed":
        return "fail"
    return "not run"


def worst(verdicts: Iterable[str]) -> str:
    found = list(verdicts)
    return min(found, key=ORDER.index) if found else "not run"


@dataclass
class Readiness:
    institutions: list[str]
    results: list[ScenarioResult]
    not_applicable: set[tuple[str, str]] = field(default_factory=set)  # (institution, item)
    facts: Mapping[str, Facts | HasRows] = field(default_factory=dict)  # institution → facts
    run: RunInfo = field(default_factory=RunInfo)

    def item_verdict(self, institution: str, item: str) -> tuple[str, list[ScenarioResult]]:
        mine = [r for r in self.results if r.institution == institution and item in r.guide_items]
        if not mine and (institution, item) in self.not_applicable:
            return "n/a", mine
        return worst(r.verdict for r in mine), mine

    def item_label(self, institution: str, item: str) -> tuple[str, list[ScenarioResult]]:
        """The item's verdict as shown: ``not run`` says why when its scenarios agree."""
        verdict, mine = self.item_verdict(institution, item)
        if verdict == "not run":
            whys = {not_run(r) for r in mine if r.verdict == "not run"}
            if len(whys) == 1:
                return whys.pop(), mine
        return verdict, mine

    def behaviours(self, institution: str) -> list[ScenarioResult]:
        return [r for r in self.results if r.institution == institution and "manual" not in r.kinds]


def write_reports(readiness: Readiness, folder: Path, mode: str) -> list[Path]:
    """The reports and the result file, each written whole or not at all; all are rendered
    before any is written, so a rendering error never leaves a new Markdown beside an old
    HTML page."""
    from alma_p2p.resultfile import RESULT_FILE, dumps

    folder.mkdir(parents=True, exist_ok=True)
    md, page, data = folder / "readiness.md", folder / "readiness.html", folder / RESULT_FILE
    texts = {
        md: render_markdown(readiness, mode),
        page: render_html(readiness, mode),
        data: dumps(readiness),
    }
    for path, text in texts.items():
        write_atomic(path, text)
    return [md, page, data]


def _short(text: str, limit: int = 600) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def anchor(institution: str) -> str:
    """The institution's anchor in both reports (profile names are already slug-like)."""
    return "inst-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in institution)


def header_lines(readiness: Readiness, mode: str) -> list[tuple[str, str]]:
    """(label, value) lines of the report's header."""
    run = readiness.run
    lines = []
    if run.stopped_early:
        lines.append(
            (
                "STOPPED EARLY",
                f"{run.stopped_early}: scenarios it did not reach are 'not run (run stopped "
                "early)'; run again without -x (or to the end) for a complete report",
            )
        )
    if run.date:
        lines.append(("Run", run.date))
    if run.harness_version:
        lines.append(("Harness version", run.harness_version))
    lines.append(("Mode", mode))
    chosen = "; ".join(f"{k} {v}" for k, v in run.selection.items())
    lines.append(("Selection", chosen or "everything"))
    names = [f"{i} ({run.names[i]})" if run.names.get(i) else i for i in readiness.institutions]
    lines.append(("Institutions", ", ".join(names)))
    if run.cassettes:
        lines.append(
            (
                "Cassettes recorded",
                ", ".join(f"{i}: {d}" for i, d in sorted(run.cassettes.items())),
            )
        )
    return lines


def render_markdown(readiness: Readiness, mode: str) -> str:
    out = [f"# Peer-to-peer readiness ({mode})", ""]
    out += [f"- **{label}:** {_md(value)}" for label, value in header_lines(readiness, mode)]
    out += ["", "## Consortium", ""]
    heads = [f"[{i}](#{anchor(i)})" for i in readiness.institutions]
    out.append("| item | " + " | ".join(heads) + " |")
    out.append("|---|" + "---|" * len(readiness.institutions))
    for item in GUIDE:
        cells = [readiness.item_label(i, item.id)[0] for i in readiness.institutions]
        out.append(f"| {item.title} | " + " | ".join(cells) + " |")
    for institution in readiness.institutions:
        out += ["", f'<a id="{anchor(institution)}"></a>', "", f"## {institution}", ""]
        out += ["| item | verdict | evidence and what to do |", "|---|---|---|"]
        for item in GUIDE:
            verdict, results = readiness.item_label(institution, item.id)
            detail = "; ".join(_detail(r) for r in results) or _none_ran(verdict)
            out.append(f"| {item.title} | **{verdict}** | {_md(detail)} |")
        out += ["", "| behaviour | verdict | evidence and what to do |", "|---|---|---|"]
        for result in readiness.behaviours(institution):
            out.append(
                f"| {_md(result.scenario)} | **{_label(result)}** | {_md(_detail(result))} |"
            )
        if institution in readiness.facts:
            out += ["", *_facts_markdown(institution, readiness.facts[institution])]
    return "\n".join(out) + "\n"


FACTS_HOWTO = (
    "calibrated: what this institution's sandbox answered to `alma-p2p calibrate "
    "--institution {name}` (value, and the date it was first seen; the exchange is in "
    "fixtures/institutions/{name}/alma-facts.yaml). assumed: the register's guess "
    "(src/alma_p2p/facts.yaml), used until a calibration settles it."
)


def _facts_summary(facts: Facts | HasRows) -> str:
    rows = facts.rows()
    done = sum(1 for r in rows if r[1] == "calibrated")
    return f"{done} of {len(rows)} calibrated, {len(rows) - done} still assumed"


def _facts_markdown(institution: str, facts: Facts | HasRows) -> list[str]:
    out = [f"### Alma facts ({_facts_summary(facts)})", "", FACTS_HOWTO.format(name=institution)]
    out += ["", "| fact | status | value | date, or why still assumed |", "|---|---|---|---|"]
    for fact_id, status, value, note in facts.rows():
        out.append(f"| `{fact_id}` | {status} | {_md(_short(value, 200))} | {_md(note)} |")
    return out


def _facts_html(institution: str, facts: Facts | HasRows) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><th scope='row'><code>{e(fact_id)}</code></th><td>{e(status)}</td>"
        f"<td>{e(_short(value, 200))}</td><td>{e(note)}</td></tr>"
        for fact_id, status, value, note in facts.rows()
    )
    return (
        f"<h3>Alma facts ({e(_facts_summary(facts))})</h3>"
        f"<p>{e(FACTS_HOWTO.format(name=institution))}</p>"
        "<table class='facts'><thead><tr><th>Fact</th><th>Status</th><th>Value</th>"
        f"<th>Date, or why still assumed</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _label(result: ScenarioResult) -> str:
    return not_run(result) if result.verdict == "not run" else result.verdict


def _detail(result: ScenarioResult) -> str:
    """Evidence and the whole message: a fix text is never cut short."""
    if result.verdict == "not run":
        return f"{result.scenario}: {not_run(result)}"
    parts = []
    if result.evidence:
        parts.append("Alma: " + ", ".join(result.evidence))
    if result.message and result.verdict != "pass":
        parts.append(" ".join(result.message.split()))
    return f"{result.scenario}: " + (" — ".join(parts) if parts else result.verdict)


def _none_ran(verdict: str) -> str:
    if verdict == "n/a":
        return "does not apply to this institution (see the run's summary)"
    return "no scenario ran for this item"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_html(readiness: Readiness, mode: str) -> str:
    e = html.escape
    rows = []
    for item in GUIDE:
        cells = "".join(_badge(readiness.item_label(i, item.id)[0]) for i in readiness.institutions)
        rows.append(f"<tr><th scope='row'>{e(item.title)}</th>{cells}</tr>")
    heads = "".join(
        f"<th scope='col'><a href='#{anchor(i)}'>{e(i)}</a></th>" for i in readiness.institutions
    )
    sections = []
    for institution in readiness.institutions:
        item_rows = []
        for item in GUIDE:
            verdict, results = readiness.item_label(institution, item.id)
            details = "".join(f"<li>{e(_detail(r))}</li>" for r in results) or (
                f"<li>{e(_none_ran(verdict))}</li>"
            )
            item_rows.append(
                f"<tr><th scope='row'>{e(item.title)}<div class='menu'>{e(item.menu)}</div></th>"
                f"{_badge(verdict)}<td><ul>{details}</ul></td></tr>"
            )
        behaviour_rows = "".join(
            f"<tr><th scope='row'>{e(r.scenario)}<div class='menu'>{e(r.feature)}</div></th>"
            f"{_badge(_label(r))}<td>{e(_detail(r))}</td></tr>"
            for r in readiness.behaviours(institution)
        )
        sections.append(
            f"<section id='{anchor(institution)}'><h2>{e(institution)}</h2>"
            "<table><thead><tr><th>Guide item</th><th>Verdict</th><th>Evidence and what to do"
            f"</th></tr></thead><tbody>{''.join(item_rows)}</tbody></table>"
            "<table><thead><tr><th>Behaviour</th><th>Verdict</th><th>Evidence and what to do"
            f"</th></tr></thead><tbody>{behaviour_rows}</tbody></table>"
            + (
                _facts_html(institution, readiness.facts[institution])
                if institution in readiness.facts
                else ""
            )
            + "</section>"
        )
    legend = "".join(_badge(v, tag="span") for v in reversed(ORDER))
    header = "".join(
        f"<dt{' class=stop' if label == 'STOPPED EARLY' else ''}>{e(label)}</dt><dd>{e(value)}</dd>"
        for label, value in header_lines(readiness, mode)
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Peer-to-peer readiness</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1d1d1d; }}
table {{ border-collapse: collapse; margin: 1rem 0 2rem; width: 100%; }}
th, td {{ border: 1px solid #ccc; padding: .4rem .6rem; text-align: left; vertical-align: top; }}
thead th {{ background: #f2f2f2; }}
.v {{ color: #fff; font-weight: 600; border-radius: .3rem; padding: .1rem .5rem;
      white-space: nowrap; display: inline-block; }}
td.v-cell {{ text-align: center; }}
.menu {{ font-weight: normal; font-size: .85em; color: #555; }}
ul {{ margin: 0; padding-left: 1.1rem; }}
dl.run {{ display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }}
dl.run dt {{ font-weight: 600; }}
dt.stop, dt.stop + dd {{ color: #b3261e; }}
</style></head><body>
<h1>Peer-to-peer resource sharing readiness</h1>
<dl class="run">{header}</dl>
<p>Verdicts: {legend}</p>
<h2>Consortium</h2>
<table id="consortium"><thead><tr><th>Guide item</th>{heads}</tr></thead>
<tbody>{"".join(rows)}</tbody></table>
{"".join(sections)}
</body></html>
"""


def _badge(verdict: str, tag: str = "td") -> str:
    colour = COLOURS.get(verdict.split(" (", maxsplit=1)[0], "#6b6b6b")
    inner = f"<span class='v' style='background:{colour}'>{html.escape(verdict)}</span>"
    return f"<td class='v-cell'>{inner}</td>" if tag == "td" else inner + " "
