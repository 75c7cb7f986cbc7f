"""``alma-p2p audit-patrons``: its arguments, and what it prints.

``--live`` pages through the institution's users in Alma; ``--from-file users.xml`` reads
Alma's users export and calls nothing. Findings go to ``--out`` (default
``reports/patron-audit/<institution>``): ``findings.csv``, ``summary.md``,
``readiness-row.json``, and, live, ``checkpoint.json`` to continue from. Patrons are
pseudonyms unless ``--show-identifiers`` is given, and then only with an explicit ``--out``.

Exit status: 0 no findings; 1 findings; 3 stopped before the end (budget, allowance,
Alma unreachable; run again to continue); 130 interrupted; 2 cannot run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from alma_p2p.audit.output import CSV_FILE, SUMMARY_FILE, Tally
from alma_p2p.audit.rules import AuditError, Rules

DEFAULT_OUT = Path("reports/patron-audit")
STOPPED = 3
INTERRUPTED = 130


def register(sub: Any) -> None:
    """Add ``audit-patrons`` to the ``alma-p2p`` subcommands."""
    parser = sub.add_parser(
        "audit-patrons", help="check every patron's resource sharing library against the profile"
    )
    parser.add_argument("--institution", required=True, metavar="NAME")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--live", action="store_true", help="read the users from Alma")
    where.add_argument("--from-file", type=Path, metavar="USERS_XML", help="Alma users export")
    parser.add_argument("--out", type=Path, help=f"default {DEFAULT_OUT}/<institution>")
    parser.add_argument(
        "--show-identifiers", action="store_true", help="real patron ids (needs --out)"
    )
    parser.add_argument("--profiles-dir", type=Path, help="default: ALMA_PROFILES_DIR")
    parser.add_argument("--rate", type=float, help="calls per second (default: ALMA_RATE)")
    parser.add_argument("--workers", type=int, default=8, help="calls in flight (default 8)")
    parser.add_argument("--max-calls", type=int, help="this run's call budget")
    parser.add_argument(
        "--keep", type=int, default=1000, help="calls to leave today for others (default 1000)"
    )
    parser.add_argument("--restart", action="store_true", help="forget the checkpoint")


def run(args: argparse.Namespace) -> int:
    """Run the audit the arguments ask for; print the summary's first lines."""
    from alma_p2p.profile import load_profiles
    from alma_p2p.settings import load_settings

    if args.show_identifiers and args.out is None:
        raise AuditError(
            "--show-identifiers writes real patron identifiers: say where with --out DIR "
            "(a folder of your own, not a shared report folder)"
        )
    for flag, value in (("--workers", args.workers), ("--keep", args.keep)):
        if value < (1 if flag == "--workers" else 0):
            raise AuditError(f"{flag} {value} is not allowed: give a positive number")
    if args.max_calls is not None and args.max_calls < 1:
        raise AuditError(f"--max-calls {args.max_calls}: give at least 1")
    cli: dict[str, Any] = {"institutions": (args.institution,)}
    if args.profiles_dir:
        cli["profiles_dir"] = args.profiles_dir
    if args.rate:
        cli["rate"] = args.rate
    settings = load_settings(mode="live", **cli)
    profile = load_profiles(settings.profiles_dir, [args.institution])[args.institution]
    rules = Rules(profile)
    out = args.out or DEFAULT_OUT / args.institution
    if args.from_file is not None:
        return _from_file(args.from_file, rules, out, args.show_identifiers)
    return _live(args, settings, profile, rules, out)


def _from_file(users: Path, rules: Rules, out: Path, show: bool) -> int:
    from alma_p2p.audit.run import audit_file

    if not users.is_file():
        raise AuditError(f"{users}: no such file; give the users XML that Alma's export wrote")
    done = audit_file(users, rules, out, show_identifiers=show)
    _print_end(done.tally, out)
    print(f"audit: {done.tally.listed:,} users from {users} in {done.wall:.1f} s, no API call")
    return 1 if done.tally.findings else 0


def _live(args: argparse.Namespace, settings: Any, profile: Any, rules: Rules, out: Path) -> int:
    from alma_p2p.alma import AlmaClient
    from alma_p2p.audit.progress import Progress
    from alma_p2p.audit.run import audit_live
    from alma_p2p.connect import base_url_for
    from alma_p2p.settings import api_key_variable

    key = settings.api_key_for(profile.name)
    if not key:
        raise AuditError(
            f"no API key for {profile.name}: set {api_key_variable(profile.name)} (or ALMA_API_KEY)"
        )
    # The audit paces the calls itself (run.Pacer), across its workers.
    with AlmaClient(
        base_url=base_url_for(settings, profile),
        api_key=key,
        rate_per_second=None,
        timeout=settings.timeout,
        backoff=settings.retry_backoff,
    ) as client:
        outcome = audit_live(
            client,
            rules,
            out,
            show_identifiers=args.show_identifiers,
            rate=settings.rate,
            workers=args.workers,
            max_calls=args.max_calls,
            keep=args.keep,
            restart=args.restart,
            progress=Progress(),
        )
    cp = outcome.checkpoint
    print(
        f"audit: {outcome.calls:,} calls in {outcome.wall:.1f} s "
        f"({outcome.calls / max(outcome.wall, 1e-9):.1f}/s, limit {settings.rate:g}/s); "
        f"{cp.listed:,} of {cp.total or 0:,} users listed"
    )
    if not outcome.complete:
        print(f"audit: stopped: {outcome.reason}", file=sys.stderr)
        interrupted = outcome.reason.startswith("interrupted")
        return INTERRUPTED if interrupted else STOPPED
    tally = Tally(audited=cp.audited, listed=cp.listed)
    for finding in cp.findings:
        tally.add(finding, rules)
    _print_end(tally, out)
    return 1 if tally.findings else 0


def _print_end(tally: Tally, out: Path) -> None:
    print(
        f"audit: {tally.findings:,} findings among {tally.audited:,} patrons in scope: "
        f"{out / CSV_FILE}, {out / SUMMARY_FILE}"
    )
