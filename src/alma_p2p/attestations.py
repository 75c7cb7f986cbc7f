"""Attestations: a person's record that they checked a manual item, and when.

``fixtures/institutions/<name>/attestations.yaml``::

    attestations:
      - item: workflow_profiles          # an id from alma_p2p.guide
        checked_by: J. Librarian
        checked_on: 2026-11-02
        note: Both profiles match the guide's list.

An attestation dated after today is refused (a typo must not count as checked). An
attestation older than the profile's ``sandbox_refreshed`` date, or than
``attestation_max_age_days``, is stale: a refresh copies production over the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from alma_p2p import yamlfile
from alma_p2p.guide import BY_ID
from alma_p2p.outcomes import PersonVerdict
from alma_p2p.profile import Profile, ProfileError, describe_validation, line_of

ATTESTATIONS_FILE = "attestations.yaml"

# A check dated in the future is a typo (2062 for 2026), refused when the file is loaded:
# counting it as attested would hide it for years. One day of grace, because the person who
# checked and the machine that runs may be on either side of the date line.
FUTURE_GRACE = timedelta(days=1)


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
        if age < -FUTURE_GRACE.days:
            return Verdict("manual", f"{said}: a date that has not come yet; to be checked again")
        if age > profile.institution.attestation_max_age_days:
            return Verdict("stale", f"{said}, {age} days ago")
        return Verdict("attested", said)


def load_attestations(path: Path, today: date | None = None) -> Attestations:
    """The file's attestations (none when the file does not exist)."""
    if not path.is_file():
        return Attestations([], today)
    try:
        text, data = yamlfile.read(path)
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read the attestations ({exc.strerror})") from exc
    except yamlfile.YamlFileError as exc:
        raise ProfileError(str(exc)) from None
    data = data or {}
    try:
        parsed = AttestationFile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(
            describe_validation(path, exc, yaml.compose(text), "attestation file")
        ) from exc
    judged = Attestations(parsed.attestations, today)
    latest = judged.today + FUTURE_GRACE
    future = [(i, e) for i, e in enumerate(parsed.attestations) if e.checked_on > latest]
    if future:
        root = yaml.compose(text)
        lines = [f"{path}: {len(future)} attestation(s) dated after today ({judged.today})"]
        for index, entry in future:
            line = line_of(root, ["attestations", index, "checked_on"])
            at = f" (line {line})" if line else ""
            lines.append(
                f"  attestations[{index}].checked_on{at}: {entry.checked_on} ({entry.item}) "
                "has not happened yet; write the day the check was made"
            )
        raise ProfileError("\n".join(lines))
    return judged
