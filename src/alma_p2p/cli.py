"""``alma-p2p``: the harness's own commands.

``alma-p2p init [DIR]``    make an institution's project: profile, attestations, CI, config
``alma-p2p schema``        print the institution profile's JSON Schema
``alma-p2p live-demo``     start the demo stand-in, run the suite live against it, stop it
``alma-p2p record-demo``   the same in record mode: rewrites the demo cassettes
``alma-p2p sweep``         remove what interrupted runs left in Alma (from the ledger)
``alma-p2p drift B N``     compare a new recording N with the baseline B (exit 1 if breaking)
``alma-p2p facts``         print what the harness assumes about Alma (the register of facts)
``alma-p2p calibrate``     ask a sandbox what the register assumes; write it down (1: drift)
``alma-p2p audit-patrons`` every patron's RS library against the profile (alma_p2p.audit)
``alma-p2p report merge``  one consortium report from many runs' readiness.json

Arguments after live-demo and record-demo go to pytest (``alma-p2p record-demo -k routing``);
the other commands refuse arguments they do not know.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from alma_p2p import __version__, resultfile
from alma_p2p.alma import AlmaError
from alma_p2p.audit import cli as audit_cli
from alma_p2p.files import write_atomic
from alma_p2p.ledger import DEFAULT_LEDGER
from alma_p2p.profile import ProfileError, load_profiles, schema_text
from alma_p2p.settings import api_key_variable

if TYPE_CHECKING:
    import httpx

    from alma_p2p.ledger import Entry, Ledger
    from alma_p2p.profile import Profile
    from alma_p2p.settings import Settings

DEMO_WORLD = Path(__file__).resolve().parent / "standin" / "worlds" / "demo-world.yaml"
PROFILES = Path("fixtures/institutions")
# Only these hand what they do not know to pytest; every other command refuses it.
PASSES_TO_PYTEST = frozenset({"live-demo", "record-demo"})


def demo_environment(base_url: str, world_keys: dict[str, str]) -> dict[str, str]:
    """Environment for a run against the stand-in: its URL and each institution's key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALMA_")}
    env["ALMA_BASE_URL"] = base_url
    for name, profile in load_profiles(PROFILES).items():
        key = world_keys.get(profile.institution.code)
        if key:
            env[api_key_variable(name)] = key
    return env


def _run_against_standin(mode: str, pytest_args: list[str]) -> int:
    from alma_p2p.standin import load_world, serve

    world = load_world(DEMO_WORLD)
    keys = {inst.code: inst.api_keys[0].key for inst in world.institutions if inst.api_keys}
    with serve(world) as standin, tempfile.TemporaryDirectory() as scratch:
        print(f"stand-in at {standin.base_url} ({DEMO_WORLD})", file=sys.stderr)
        env = demo_environment(standin.base_url, keys)
        # The stand-in forgets everything when it stops: keep its ledger out of yours.
        env["ALMA_LEDGER"] = str(Path(scratch) / "ledger.jsonl")
        command = [sys.executable, "-m", "pytest", f"--alma-mode={mode}", *pytest_args]
        return subprocess.call(command, env=env)  # noqa: S603 - our own interpreter


def sweep(
    institutions: list[str],
    ledger_path: Path | None,
    *,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """Settle every request the ledger holds open; report each as Alma confirms it.

    Exit status: 0 nothing is left in Alma; 1 something is left, or could not be checked (a
    damaged ledger line, an institution Alma did not answer for); 2 nothing could be swept
    (no ledger at an explicit path, a folder as the ledger). ``transport`` replaces the
    network (tests).
    """
    from alma_p2p.ledger import Ledger
    from alma_p2p.settings import load_settings

    settings = load_settings(institutions=tuple(institutions) or None, ledger=ledger_path)
    path = settings.ledger
    if path.is_dir():
        raise SweepError(f"the ledger {path} is a folder; give the ledger file: --ledger FILE")
    if (ledger_path is not None or os.environ.get("ALMA_LEDGER")) and not path.exists():
        raise SweepError(
            f"no ledger at {path}; give the file your runs wrote (--alma-ledger / ALMA_LEDGER, "
            f"default {DEFAULT_LEDGER})"
        )
    ledger = Ledger(path)
    reading = ledger.read()
    for damaged in reading.damaged:
        print(
            f"ledger {path} line {damaged.line}: {damaged.reason}; skipped: what it recorded "
            "is not swept (check that line by hand)"
        )
    profiles = load_profiles(settings.profiles_dir, settings.institutions)
    left = len(reading.damaged)
    if not settings.institutions:
        for stranger in sorted({e.institution for e in reading.outstanding} - set(profiles)):
            count = sum(e.institution == stranger for e in reading.outstanding)
            print(
                f"{stranger}: {count} left behind, but no profile {stranger!r} in "
                f"{settings.profiles_dir}: restore it and sweep again"
            )
            left += count
    for name, profile in profiles.items():
        entries = [e for e in reading.outstanding if e.institution == name]
        if not entries:
            print(f"{name}: nothing left behind")
            continue
        try:
            left += _sweep_one(settings, name, profile, entries, ledger, transport)
        except AlmaError as exc:
            print(
                f"{name}: could not sweep ({exc}); its {len(entries)} request(s) stay in the "
                "ledger: run `alma-p2p sweep` again when Alma answers"
            )
            left += len(entries)
    return 1 if left else 0


def calibrate(institution: str, transport: httpx.BaseTransport | None = None) -> int:
    """Calibrate one institution's facts; 1 when a calibrated value drifted, 2 if refused."""
    from alma_p2p.calibrate import calibrate as run_calibration
    from alma_p2p.settings import load_settings

    settings = load_settings(institutions=(institution,), mode="live")
    outcome = run_calibration(institution, settings=settings, transport=transport)
    facts = outcome.calibrated.facts.values()
    done = sum(1 for f in facts if f.status == "calibrated")
    left = len(facts) - done
    print(f"{institution}: {done} facts calibrated, {left} still assumed: {outcome.path}")
    return 1 if outcome.drift else 0


class SweepError(ValueError):
    """The sweep cannot start: the message says what to give it."""


def _sweep_one(
    settings: Settings,
    name: str,
    profile: Profile,
    entries: list[Entry],
    ledger: Ledger,
    transport: httpx.BaseTransport | None,
) -> int:
    """Settle one institution's open entries; the number left in Alma."""
    from alma_p2p.cleanup import Created, Outcome, remove_created
    from alma_p2p.connect import client_for

    key = settings.api_key_for(name)
    if not key:
        print(f"{name}: {len(entries)} left behind, but no key: set {api_key_variable(name)}")
        return len(entries)
    with client_for(settings, profile, transport=transport) as client:
        general = client.general()
        if not general.is_sandbox:
            print(f"{name}: refused, Alma reports {general.environment_type!r}, not sandbox")
            return len(entries)
        created = [
            Created(e.kind, e.owner, e.external_id, request_id=e.request_id, library=e.library)
            for e in entries
        ]
        report = remove_created(client, name, created, ledger)
    for settled in reversed(report.settled):  # oldest first, as the ledger lists them
        label = "LEFT IN ALMA" if settled.outcome is Outcome.LEFT else settled.outcome.value
        print(f"{name}: {label}: {settled.line}")
    counts = ", ".join(f"{len(report.of(o))} {o.value}" for o in Outcome)
    print(f"{name}: {counts}")
    return len(report.left)


def drift(
    baseline: Path, new: Path, institutions: list[str], as_json: Path | None, as_md: Path | None
) -> int:
    """Print the drift as Markdown; 1 when a change breaks the harness's contract."""
    from alma_p2p import drift as drifting

    for folder in (baseline, new):
        if not folder.is_dir():
            raise ValueError(f"{folder} is not a folder of cassettes")
    found = drifting.compare(baseline, new, institutions or None)
    text = drifting.to_markdown(found)
    print(text)
    if as_md:
        write_atomic(as_md, text)
    if as_json:
        write_atomic(as_json, drifting.to_json(found))
    return 1 if found.breaking else 0


def main(argv: list[str] | None = None, *, transport: httpx.BaseTransport | None = None) -> int:
    """The command line; ``transport`` replaces the network for sweep and calibrate (tests)."""
    parser = argparse.ArgumentParser(prog="alma-p2p", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"alma-p2p {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    initer = sub.add_parser("init", help="make an institution's project in DIR (default: here)")
    initer.add_argument("dir", nargs="?", type=Path, default=Path())
    initer.add_argument(
        "--institution", action="append", default=[], metavar="NAME", help="repeatable"
    )
    sub.add_parser("schema", help="print the profile JSON Schema")
    sub.add_parser("live-demo", help="run the suite live against the demo stand-in")
    sub.add_parser("record-demo", help="re-record the demo cassettes against the stand-in")
    sweeper = sub.add_parser("sweep", help="remove requests that interrupted runs left in Alma")
    sweeper.add_argument("--institution", action="append", default=[], metavar="NAME")
    sweeper.add_argument("--ledger", type=Path, default=None, help="default: ALMA_LEDGER")
    drifter = sub.add_parser("drift", help="compare a new recording with the baseline")
    drifter.add_argument("baseline", type=Path, help="baseline cassettes, e.g. cassettes")
    drifter.add_argument("new", type=Path, help="the new recording's cassettes folder")
    drifter.add_argument("--institution", action="append", default=[], metavar="NAME")
    drifter.add_argument("--json", type=Path, help="also write the drift as JSON here")
    drifter.add_argument("--markdown", type=Path, help="also write the drift as Markdown here")
    sub.add_parser("facts", help="print the register of assumed Alma facts as Markdown")
    calibrator = sub.add_parser(
        "calibrate", help="ask the institution's sandbox what the register of facts assumes"
    )
    calibrator.add_argument(
        "--institution", required=True, metavar="NAME", help="fixtures/institutions/<NAME>"
    )
    audit_cli.register(sub)
    resultfile.add_parser(sub)
    args, rest = parser.parse_known_args(argv)
    if rest and args.command not in PASSES_TO_PYTEST:
        parser.parse_args(argv)  # argparse's usage error for the unknown arguments (exit 2)
    try:
        if args.command == "audit-patrons":
            return audit_cli.run(args)
        if args.command == "init":
            from alma_p2p import scaffold

            return scaffold.main(args.dir, args.institution)
        if args.command == "schema":
            sys.stdout.write(schema_text())
            return 0
        if args.command == "facts":
            from alma_p2p.facts import load_register, render_markdown

            sys.stdout.write(render_markdown(load_register()))
            return 0
        if args.command == "calibrate":
            return calibrate(args.institution, transport=transport)
        if args.command == "sweep":
            return sweep(args.institution, args.ledger, transport=transport)
        if args.command == "report":
            return resultfile.main(args)
        if args.command == "drift":
            return drift(args.baseline, args.new, args.institution, args.json, args.markdown)
        mode = "live" if args.command == "live-demo" else "record"
        return _run_against_standin(mode, rest)
    except (ProfileError, ValueError, OSError, AlmaError) as exc:
        print(f"alma-p2p: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
