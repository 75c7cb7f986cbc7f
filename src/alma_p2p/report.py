"""The readiness report: one answer per guide item and per behaviour, per institution.

Written after every run as ``readiness.md`` and a self-contained ``readiness.html`` (no
external assets; opens offline). Verdicts: pass, fail, cannot tell, error, manual, attested,
stale, not run, n/a.
Each institution also gets an "Alma facts" section: which facts of the register its sandbox
confirmed through ``alma-p2p calibrate`` (value, date), and which the run still assumes.
An item's verdict is the worst of its scenarios': one failure fails it, and an item proven
partly through the API and partly by a person stays ``manual`` until a person checks it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

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
    facts: dict[str, Facts] = field(default_factory=dict)  # institution → its Alma facts

    def item_verdict(self, institution: str, item: str) -> tuple[str, list[ScenarioResult]]:
        mine = [r for r in self.results if r.institution == institution and item in r.guide_items]
        if not mine and (institution, item) in self.not_applicable:
            return "n/a", mine
        return worst(r.verdict for r in mine), mine

    def behaviours(self, institution: str) -> list[ScenarioResult]:
        return [r for r in self.results if r.institution == institution and "manual" not in r.kinds]


def write_reports(readiness: Readiness, folder: Path, mode: str) -> list[Path]:
    """Both reports, each written whole or not at all; both are rendered before either is
    written, so a rendering error never leaves a new Markdown beside an old HTML page."""
    folder.mkdir(parents=True, exist_ok=True)
    md, page = folder / "readiness.md", folder / "readiness.html"
    texts = {md: render_markdown(readiness, mode), page: render_html(readiness, mode)}
    for path, text in texts.items():
        write_atomic(path, text)
    return [md, page]


def _short(text: str, limit: int = 600) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def render_markdown(readiness: Readiness, mode: str) -> str:
    out = [f"# Peer-to-peer readiness ({mode})", ""]
    out += ["## Consortium", "", "| item | " + " | ".join(readiness.institutions) + " |"]
    out.append("|---|" + "---|" * len(readiness.institutions))
    for item in GUIDE:
        cells = [readiness.item_verdict(i, item.id)[0] for i in readiness.institutions]
        out.append(f"| {item.title} | " + " | ".join(cells) + " |")
    for institution in readiness.institutions:
        out += ["", f"## {institution}", "", "| item | verdict | evidence and what to do |"]
        out.append("|---|---|---|")
        for item in GUIDE:
            verdict, results = readiness.item_verdict(institution, item.id)
            detail = "; ".join(_detail(r) for r in results) or _none_ran(verdict)
            out.append(f"| {item.title} | **{verdict}** | {_md(detail)} |")
        out += ["", "| behaviour | verdict | evidence and what to do |", "|---|---|---|"]
        for result in readiness.behaviours(institution):
            out.append(
                f"| {_md(result.scenario)} | **{result.verdict}** | {_md(_detail(result))} |"
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


def _facts_summary(facts: Facts) -> str:
    rows = facts.rows()
    done = sum(1 for r in rows if r[1] == "calibrated")
    return f"{done} of {len(rows)} calibrated, {len(rows) - done} still assumed"


def _facts_markdown(institution: str, facts: Facts) -> list[str]:
    out = [f"### Alma facts ({_facts_summary(facts)})", "", FACTS_HOWTO.format(name=institution)]
    out += ["", "| fact | status | value | date, or why still assumed |", "|---|---|---|---|"]
    for fact_id, status, value, note in facts.rows():
        out.append(f"| `{fact_id}` | {status} | {_md(_short(value, 200))} | {_md(note)} |")
    return out


def _facts_html(institution: str, facts: Facts) -> str:
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


def _detail(result: ScenarioResult) -> str:
    parts = []
    if result.evidence:
        parts.append("Alma: " + ", ".join(result.evidence))
    if result.message and result.verdict != "pass":
        parts.append(_short(result.message))
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
        cells = "".join(
            _badge(readiness.item_verdict(i, item.id)[0]) for i in readiness.institutions
        )
        rows.append(f"<tr><th scope='row'>{e(item.title)}</th>{cells}</tr>")
    heads = "".join(f"<th scope='col'>{e(i)}</th>" for i in readiness.institutions)
    sections = []
    for institution in readiness.institutions:
        item_rows = []
        for item in GUIDE:
            verdict, results = readiness.item_verdict(institution, item.id)
            details = "".join(f"<li>{e(_detail(r))}</li>" for r in results) or (
                f"<li>{e(_none_ran(verdict))}</li>"
            )
            item_rows.append(
                f"<tr><th scope='row'>{e(item.title)}<div class='menu'>{e(item.menu)}</div></th>"
                f"{_badge(verdict)}<td><ul>{details}</ul></td></tr>"
            )
        behaviour_rows = "".join(
            f"<tr><th scope='row'>{e(r.scenario)}<div class='menu'>{e(r.feature)}</div></th>"
            f"{_badge(r.verdict)}<td>{e(_detail(r))}</td></tr>"
            for r in readiness.behaviours(institution)
        )
        sections.append(
            f"<section id='{e(institution)}'><h2>{e(institution)}</h2>"
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
</style></head><body>
<h1>Peer-to-peer resource sharing readiness</h1>
<p>Mode: <strong>{e(mode)}</strong>. Verdicts: {legend}</p>
<h2>Consortium</h2>
<table id="consortium"><thead><tr><th>Guide item</th>{heads}</tr></thead>
<tbody>{"".join(rows)}</tbody></table>
{"".join(sections)}
</body></html>
"""


def _badge(verdict: str, tag: str = "td") -> str:
    colour = COLOURS.get(verdict, "#6b6b6b")
    inner = f"<span class='v' style='background:{colour}'>{html.escape(verdict)}</span>"
    return f"<td class='v-cell'>{inner}</td>" if tag == "td" else inner + " "
