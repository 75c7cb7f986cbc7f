"""A run's machine-readable result (``readiness.json``), and merging many into one report.

Every run that writes the readiness report also writes ``readiness.json`` beside it. Where
a consortium spreads its institutions over a CI job matrix, each job keeps its file and
``alma-p2p report merge RESULT... --output DIR`` builds the consortium's report (Markdown,
HTML and a merged result file) from them.

The file's schema is ``{"schema": SCHEMA, "version": VERSION, "run": {...},
"institutions": [...], "not_applicable": [[institution, item], ...], "results": [...],
"facts": {institution: [[fact, status, value, note], ...]}}``. ``version`` changes only when
a reader of the old version would misread the new; a merge refuses files of another version.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from alma_p2p.report import FactRows, Readiness, RunInfo, ScenarioResult, write_reports

RESULT_FILE = "readiness.json"
SCHEMA = "alma-p2p readiness result"
VERSION = 1


class ResultFileError(ValueError):
    """A result file cannot be read or merged; the message says which and what to do."""


def to_data(readiness: Readiness) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "run": asdict(readiness.run),
        "institutions": list(readiness.institutions),
        "not_applicable": sorted([i, item] for i, item in readiness.not_applicable),
        "results": [asdict(r) for r in readiness.results],
        "facts": {name: [list(row) for row in f.rows()] for name, f in readiness.facts.items()},
    }


def dumps(readiness: Readiness) -> str:
    return json.dumps(to_data(readiness), indent=1, ensure_ascii=False) + "\n"


def load(path: Path) -> Readiness:
    """A result file as the report it was written from; ``ResultFileError`` when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such result file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultFileError(f"{path}: cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ResultFileError(
            f"{path}: not a result file (not JSON: {exc.msg}, line {exc.lineno}); "
            f"give the {RESULT_FILE} a run wrote"
        ) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ResultFileError(
            f"{path}: not a result file of alma-p2p (its 'schema' is not {SCHEMA!r})"
        )
    if data.get("version") != VERSION:
        raise ResultFileError(
            f"{path}: result file version {data.get('version')!r}, this harness reads version "
            f"{VERSION}: merge files written by the same harness version (or run the jobs again)"
        )
    try:
        return _readiness(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultFileError(
            f"{path}: a result file of version {VERSION} but damaged ({type(exc).__name__}: "
            f"{exc}); use the file the run wrote, unchanged"
        ) from None


def scenario_result(raw: Any) -> ScenarioResult:
    """A scenario's result from its JSON form (``dataclasses.asdict``)."""
    if not isinstance(raw, dict) or set(raw) != {f.name for f in fields(ScenarioResult)}:
        raise ValueError(f"a result has fields {sorted(raw) if isinstance(raw, dict) else raw}")
    found = ScenarioResult(**raw)
    found.guide_items = tuple(found.guide_items)
    found.kinds = tuple(found.kinds)
    return found


def _readiness(data: dict[str, Any]) -> Readiness:
    results = [scenario_result(raw) for raw in data["results"]]
    run = data["run"]
    if not isinstance(run, dict) or not set(run) <= {f.name for f in fields(RunInfo)}:
        raise ValueError("the 'run' part has unknown fields")
    return Readiness(
        [str(i) for i in data["institutions"]],
        results,
        {(str(i), str(item)) for i, item in data["not_applicable"]},
        facts={
            name: FactRows(tuple((str(a), str(b), str(c), str(d)) for a, b, c, d in rows))
            for name, rows in data["facts"].items()
        },
        run=RunInfo(**run),
    )


def merge(parts: list[tuple[Path, Readiness]]) -> Readiness:
    """One consortium report from many runs' results: each institution from one run only."""
    if not parts:
        raise ResultFileError("nothing to merge: name at least one result file")
    owner: dict[str, Path] = {}
    for path, part in parts:
        for name in part.institutions:
            if name in owner:
                raise ResultFileError(
                    f"{name} is in both {owner[name]} and {path}: merge one result per "
                    "institution (the latest job's)"
                )
            owner[name] = path
    runs = [part.run for _, part in parts]
    dates = sorted(r.date for r in runs if r.date)
    merged = RunInfo(
        date=dates[0] if len(set(dates)) <= 1 else f"{dates[0]} to {dates[-1]}",
        harness_version=", ".join(sorted({r.harness_version for r in runs if r.harness_version})),
        mode=", ".join(sorted({r.mode for r in runs if r.mode})),
        selection={"merged": f"{len(parts)} result files"}
        | {
            f"{k} ({', '.join(part.institutions)})": v
            for _, part in parts
            for k, v in part.run.selection.items()
            if k != "institutions"
        },
        stopped_early="; ".join(
            f"{', '.join(part.institutions)}: {part.run.stopped_early}"
            for _, part in parts
            if part.run.stopped_early
        ),
        cassettes={k: v for r in runs for k, v in r.cassettes.items()},
        names={k: v for r in runs for k, v in r.names.items()},
    )
    return Readiness(
        sorted(owner),
        [r for _, part in parts for r in part.results],
        {pair for _, part in parts for pair in part.not_applicable},
        facts={k: v for _, part in parts for k, v in part.facts.items()},
        run=merged,
    )


# -- alma-p2p report merge ---------------------------------------------------------------


def add_parser(sub: Any) -> None:
    """``alma-p2p report merge``'s arguments (``sub``: the command line's subparsers)."""
    reporter = sub.add_parser("report", help="work with readiness result files")
    actions = reporter.add_subparsers(dest="report_command", required=True)
    merger = actions.add_parser(
        "merge", help="build the consortium report from many runs' readiness.json"
    )
    merger.add_argument("results", nargs="+", type=Path, metavar="RESULT", help="readiness.json")
    merger.add_argument("--output", type=Path, required=True, metavar="DIR")


def main(args: argparse.Namespace) -> int:
    """Merge, write the reports, print where they are; 2 with one line when a file is bad."""
    try:
        merged = merge([(path, load(path)) for path in args.results])
    except ResultFileError as exc:
        print(f"alma-p2p report merge: {exc}", file=sys.stderr)
        return 2
    mode = merged.run.mode or "merged"
    for path in write_reports(merged, args.output, mode):
        print(f"written: {path}")
    return 0
