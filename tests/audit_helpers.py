"""Helpers for the patron-audit tests: a population, its profile folder, its answer key."""

from __future__ import annotations

import csv
from pathlib import Path

import yaml

from alma_p2p.recording import pseudonym
from alma_p2p.standin.population import Population

NAME = "big"
KEY = "l7xxBIGINSTKEY"


def profiles_for(population: Population, tmp: Path) -> Path:
    folder = tmp / "profiles"
    (folder / NAME).mkdir(parents=True, exist_ok=True)
    (folder / NAME / "profile.yaml").write_text(
        yaml.safe_dump(population.profile_data()), encoding="utf-8"
    )
    return folder


def findings(out: Path) -> dict[str, str]:
    """patron → finding, from an audit's CSV."""
    with (out / "findings.csv").open(encoding="utf-8") as handle:
        return {row["patron"]: row["finding"] for row in csv.DictReader(handle)}


def pseudonymised(planted: dict[str, str]) -> dict[str, str]:
    return {pseudonym(pid, "primary_id"): kind for pid, kind in planted.items()}


def audit_args(profiles: Path, out: Path, *more: str) -> list[str]:
    return [
        "audit-patrons",
        "--institution",
        NAME,
        "--profiles-dir",
        str(profiles),
        "--out",
        str(out),
        *more,
    ]
