"""The terminal summary: mode, what was left out, calls spent, what is left in Alma."""

from __future__ import annotations

from typing import Any

import pytest

from alma_p2p.plugin.applicability import left_out_of
from alma_p2p.plugin.cassettes import recorded_of, stale_cassettes
from alma_p2p.plugin.clients import clients_of
from alma_p2p.plugin.preflight import preflight_of
from alma_p2p.plugin.results import UNREACHABLE_LABEL, results_of
from alma_p2p.plugin.run import run_of, shown
from alma_p2p.plugin.writes import WRITES


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    run = run_of(config)
    clients, left_out = clients_of(config), left_out_of(config)
    results = results_of(config)
    if not run.profiles or not (clients.open or clients.spent or left_out.reasons or results.ran):
        return
    write = terminalreporter.write_line
    mode = run.settings.mode
    terminalreporter.section("Alma harness")
    write(f"mode: {mode}; institutions: {', '.join(run.profiles)}")
    if mode == "replay":
        for warning in stale_cassettes(config):
            write(f"WARNING: {warning}")
    for reason, count in sorted(left_out.reasons.items()):
        write(f"not applicable, left out: {count} scenario(s) at {reason}")
    probes = preflight_of(config).calls
    lost = config.stash[WRITES].lost_answers
    for name, spent in sorted(clients.spent.items()):
        left = (
            f"; Alma reports {spent.remaining} calls left today"
            if spent.remaining is not None
            else ""
        )
        what = "answers replayed" if mode == "replay" else "Alma calls"
        checked = f" (and {probes[name]} preflight calls)" if probes.get(name) else ""
        # A write whose answer was lost reached Alma all the same: it counts.
        unanswered = lost.get(name, 0)
        writes = spent.calls - spent.gets + unanswered
        lost_note = f", {unanswered} of them unanswered" if unanswered else ""
        write(
            f"{name}: {spent.calls + unanswered} {what} ({spent.gets} GETs, {writes} "
            f"writes{lost_note}); {spent.distinct} distinct resources read{checked}{left}"
        )
    for line in unreachable_lines(config):
        write(line)
    for line in config.stash[WRITES].left_behind:
        write(f"LEFT IN ALMA: {line}")
    recorded = recorded_of(config)
    if recorded.written:
        write(f"cassettes written: {len(recorded.written)}")
    for path in results_of(config).reports:
        write(f"readiness report: {shown(config, path)}")
    for where in recorded.kept:
        write(f"cassette NOT updated (scenario did not pass): {where}")
    for where in recorded.written:
        if where.endswith("(scenario failed)"):
            write(f"recorded although the scenario failed: {where}")


def unreachable_lines(config: pytest.Config) -> list[str]:
    """Per institution, the scenarios that ended in *error (Alma unreachable)*: not
    configuration faults, and not proven either way."""
    errors: dict[str, int] = {}
    for result in results_of(config).scenarios:
        if result.verdict == "error":
            errors[result.institution] = errors.get(result.institution, 0) + 1
    cut_off = preflight_of(config).unreachable
    lines = []
    for name, count in sorted(errors.items()):
        when = (
            f"it did not answer preflight ({cut_off[name]})"
            if name in cut_off
            else "it did not answer, or kept refusing for load, after the client's retries"
        )
        lines.append(
            f"{name}: {count} scenario(s) error ({UNREACHABLE_LABEL}): {when}. These are not "
            "configuration faults; run them again when Alma answers (if it never does, check "
            "ALMA_BASE_URL and the network)"
        )
    return lines
