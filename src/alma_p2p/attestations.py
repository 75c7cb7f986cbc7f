"""Attestations: a person's record that they checked a manual item, and when.

``fixtures/institutions/<name>/attestations.yaml``::

    attestations:
      - item: workflow_profiles          # an id from alma_p2p.guide
        checked_by: J. Librarian
        checked_on: 2026-11-02
        note: Both profiles match the guide's list.

An attestation older than the profile's ``sandbox_refreshed`` date, or than
``attestation_max_age_days``, is stale: a refresh copies production over the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from alma_p2p import yamlfile
from alma_p2p.guide import BY_ID
from alma_p2p.outcomes import PersonVerdict
from alma_p2p.profile import Profile, ProfileError, describe_validation

ATTESTATIONS_FILE = "attestations.yaml"


class Attestation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    item: str
    checked_by: str = Field(min_length=1)
    checked_on: date
    note: str = ""

    @field_validator("item")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in BY_ID:
            raise ValueError(f"unknown item {value!r}; allowed: {', '.join(BY_ID)}")
        return value


class AttestationFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    attestations: list[Attestation] = Field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    kind: PersonVerdict
    text: str


class Attestations:
    """The attestations of one institution, judged against its profile and today."""

    def __init__(self, entries: list[Attestation], today: date | None = None) -> None:
        self._latest: dict[str, Attestation] = {}
        for entry in sorted(entries, key=lambda e: e.checked_on):
            self._latest[entry.item] = entry
        self.today = today or date.today()

    def verdict(self, item: str, profile: Profile) -> Verdict:
        entry = self._latest.get(item)
        if entry is None:
            return Verdict("manual", "to be checked by a person; record it in attestations.yaml")
        said = f"checked by {entry.checked_by} on {entry.checked_on.isoformat()}"
        if entry.note:
            said += f" ({entry.note})"
        refreshed = profile.institution.sandbox_refreshed
        if refreshed is not None and entry.checked_on < refreshed:
            return Verdict("stale", f"{said}, before the sandbox refresh of {refreshed}")
        age = (self.today - entry.checked_on).days
        if age > profile.institution.attestation_max_age_days:
            return Verdict("stale", f"{said}, {age} days ago")
        return Verdict("attested", said)


def load_attestations(path: Path, today: date | None = None) -> Attestations:
    """The file's attestations (none when the file does not exist)."""
    if not path.is_file():
        return Attestations([], today)
    try:
        text = path.read_text(encoding="utf-8")
        data = yamlfile.load(text) or {}
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {yamlfile.problem(exc)}") from exc
    try:
        parsed = AttestationFile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(
            describe_validation(path, exc, yaml.compose(text), "attestation file")
        ) from exc
    return Attestations(parsed.attestations, today)
