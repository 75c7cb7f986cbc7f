"""The register of Alma facts: what the harness assumes about Alma without a capture.

``facts.yaml`` (package data) lists each assumed field, code and behaviour once, with its
plausible alternatives, the evidence, the checks that depend on it and how a sandbox run can
probe it. Code that relies on a fact is marked ``UNVERIFIED(<id>)``. The register is read
and validated once per process (``load_register``); ``render_markdown`` gives the README's
"What we assume about Alma without a source" section, which ``alma-p2p facts`` prints.

A fact the stand-in can play gives each of its values a ``switch`` word (the assumed one on
the fact, the others on its alternatives), which a world file's ``facts:`` names. A fact's
``paths`` declare, per kind of the stand-in's answer, the key paths no capture shows that
the fact assumes (``tests/test_standin_shapes.py`` holds the stand-in to them).

``alma-p2p calibrate`` writes what an institution's sandbox answered to
``<profiles>/<name>/alma-facts.yaml`` (``CalibratedFacts``, ``render_calibrated``);
``Facts`` is the view a run uses: the calibrated value of a fact, else the assumed one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date as date_type
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from alma_p2p import yamlfile

REGISTER_FILE = "facts.yaml"
README_HEADING = "## What we assume about Alma without a source"

Kind = Literal["field", "code", "behaviour"]
ProbeSafety = Literal["read", "write-with-test-data", "none"]

FACT_ID = r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+"
# A switch value: a word (letters, digits, _ and -) a world file's ``facts:`` names.
SWITCH = r"[A-Za-z0-9][A-Za-z0-9_-]*"
# A key path of a JSON answer: keys joined by dots, a list as ``[]``.
KEY_PATH = r"[A-Za-z_][A-Za-z0-9_]*(?:\[\])*(?:\.[A-Za-z_][A-Za-z0-9_]*(?:\[\])*)*"
# How evidence names a file of shared/reference/captures/.
CAPTURE = re.compile(r"captures/([\w.-]+\.json)")


class FactsError(ValueError):
    """The register is not valid: names the file and what is wrong."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Alternative(_Frozen):
    """A value or behaviour Alma might show instead of the assumed one."""

    value: str = Field(min_length=1)
    evidence: str = Field(min_length=1, description='a source, or "none"')
    switch: str | None = Field(
        default=None,
        pattern=f"^{SWITCH}$",
        description="the word a stand-in world uses to play this alternative",
    )


class Fact(_Frozen):
    """One assumed fact about Alma."""

    id: str = Field(pattern=f"^{FACT_ID}$")
    kind: Kind
    statement: str = Field(min_length=1)
    assumed: str = Field(min_length=1)
    alternatives: tuple[Alternative, ...] = Field(min_length=1)
    evidence: tuple[str, ...] = Field(min_length=1)
    checks: tuple[str, ...] = ()
    probe: str = Field(min_length=1)
    probe_safety: ProbeSafety
    switch: str | None = Field(
        default=None,
        pattern=f"^{SWITCH}$",
        description="the word a stand-in world uses to play the assumed value",
    )
    not_played: str | None = Field(
        default=None,
        min_length=1,
        description="why the stand-in cannot play this fact's alternatives (then it has no "
        "switch): what it is about lies outside what a stand-in answers",
    )
    paths: dict[str, tuple[Annotated[str, Field(pattern=f"^{KEY_PATH}$")], ...]] = Field(
        default_factory=dict,
        description="the stand-in's answer kind (tests/test_standin_shapes.py) → the key "
        "paths of that answer no capture shows, which this fact declares",
    )

    @model_validator(mode="after")
    def _probe_says_why_not(self) -> Fact:
        if self.probe_safety == "none" and not self.probe.startswith("cannot be probed"):
            raise ValueError('probe_safety none needs a probe starting "cannot be probed"')
        return self

    @model_validator(mode="after")
    def _switches_are_complete_and_distinct(self) -> Fact:
        words = [a.switch for a in self.alternatives if a.switch is not None]
        if self.switch is not None and self.not_played is not None:
            raise ValueError("a fact the stand-in plays (switch) cannot also be not_played")
        if self.switch is None:
            if words:
                raise ValueError("alternatives have switches, so the assumed value needs one")
            return self
        words.append(self.switch)
        if len(set(words)) != len(words):
            raise ValueError(f"switch words repeat: {', '.join(words)}")
        return self

    @property
    def switches(self) -> tuple[str, ...]:
        """The words a stand-in world may set this fact to, the assumed value's first."""
        if self.switch is None:
            return ()
        return (self.switch, *(a.switch for a in self.alternatives if a.switch is not None))

    @property
    def capture_files(self) -> frozenset[str]:
        """The capture files (``captures/<name>.json``) its evidence names."""
        texts = [*self.evidence, *(a.evidence for a in self.alternatives)]
        return frozenset(name for text in texts for name in CAPTURE.findall(text))


class _RegisterFile(_Frozen):
    version: Literal[1]
    facts: tuple[Fact, ...] = Field(min_length=1)


@dataclass(frozen=True)
class Register:
    """The facts in file order; ``fact(id)`` finds one."""

    facts: tuple[Fact, ...]
    _by_id: dict[str, Fact] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        counts = Counter(f.id for f in self.facts)
        repeated = sorted(i for i, n in counts.items() if n > 1)
        if repeated:
            raise FactsError(f"{REGISTER_FILE}: fact ids listed twice: {', '.join(repeated)}")
        object.__setattr__(self, "_by_id", {f.id: f for f in self.facts})

    def fact(self, fact_id: str) -> Fact:
        """The fact with this id; a KeyError names the close ids and where to add one."""
        try:
            return self._by_id[fact_id]
        except KeyError:
            prefix = fact_id.split(".", 1)[0] + "."
            near = [i for i in self._by_id if i.startswith(prefix)]
            hint = f"; ids under {prefix}: {', '.join(near)}" if near else ""
            raise KeyError(
                f"no fact {fact_id!r} in the register of Alma facts "
                f"(src/alma_p2p/{REGISTER_FILE}){hint}"
            ) from None

    def __contains__(self, fact_id: object) -> bool:
        return fact_id in self._by_id

    def __iter__(self) -> Iterator[Fact]:
        return iter(self.facts)

    def __len__(self) -> int:
        return len(self.facts)


def parse_register(text: str, source: str = REGISTER_FILE) -> Register:
    """A register from YAML text; ``FactsError`` names ``source`` and each problem."""
    try:
        data = yamlfile.load(text)
    except yaml.YAMLError as exc:
        raise FactsError(f"{source}: {yamlfile.problem(exc)}") from exc
    try:
        parsed = _RegisterFile.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"  - {'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        ]
        heading = f"{source}: not a valid register of Alma facts"
        raise FactsError("\n".join([heading, *lines])) from exc
    return Register(parsed.facts)


@cache
def load_register() -> Register:
    """The package's register, read and validated once per process."""
    text = resources.files("alma_p2p").joinpath(REGISTER_FILE).read_text(encoding="utf-8")
    return parse_register(text)


_KIND_HEADINGS: dict[Kind, str] = {
    "field": "Fields",
    "code": "Codes",
    "behaviour": "Behaviours",
}
_PROBE_WORD: dict[ProbeSafety, str] = {
    "read": "read",
    "write-with-test-data": "write",
    "none": "no",
}


def render_markdown(register: Register) -> str:
    """The README section "What we assume about Alma without a source", from the register."""
    counts = Counter(f.kind for f in register)
    lines = [
        README_HEADING,
        "",
        "The register of Alma facts, `src/alma_p2p/facts.yaml`, is the source of this list: for",
        "each fact it gives the plausible alternatives with their evidence, the checks that",
        "depend on it and how a sandbox run can find out. Code that relies on a fact is marked",
        "`UNVERIFIED(<id>)`. Print the list with `alma-p2p facts`; `tests/test_facts.py` fails",
        "when this section and the register differ.",
        "",
        f"{len(register)} facts: {counts['field']} fields, {counts['code']} codes, "
        f"{counts['behaviour']} behaviours.",
        "*Probe* says what a live sandbox run needs to settle one: read (GET only), write",
        "(creates test requests and cancels them) or no (it cannot be probed).",
    ]
    for kind, heading in _KIND_HEADINGS.items():
        facts = [f for f in register if f.kind == kind]
        if not facts:
            continue
        lines += ["", f"### {heading}", ""]
        lines += [
            f"- `{f.id}`: {f.statement} *Assumed:* {f.assumed}. "
            f"*Probe:* {_PROBE_WORD[f.probe_safety]}."
            for f in facts
        ]
    return "\n".join(lines) + "\n"


# -- calibrated facts: what a sandbox said, per institution -------------------------------

CALIBRATED_FILE = "alma-facts.yaml"
UNEXPECTED = "unexpected"


class CalibratedFact(_Frozen):
    """One fact as ``alma-p2p calibrate`` left it: observed (with its evidence) or still
    assumed (with why)."""

    status: Literal["calibrated", "assumed"]
    value: str | None = Field(
        default=None, description="the register's assumed or alternative value, or unexpected"
    )
    seen: str | None = Field(default=None, description="what Alma showed, when unexpected")
    date: date_type | None = Field(default=None, description="when this value was observed")
    evidence: str | None = Field(default=None, description="the redacted exchange that shows it")
    why: str | None = Field(default=None, description="why it is still assumed")

    @model_validator(mode="after")
    def _complete(self) -> CalibratedFact:
        if self.status == "calibrated" and not (self.value and self.date and self.evidence):
            raise ValueError("a calibrated fact needs value, date and evidence")
        if self.status == "assumed" and not self.why:
            raise ValueError("a fact still assumed needs why")
        return self


class CalibratedFacts(_Frozen):
    """``fixtures/institutions/<name>/alma-facts.yaml``: an institution's calibrated facts."""

    institution: str = Field(min_length=1, description="the Alma institution code")
    facts: dict[str, CalibratedFact] = Field(default_factory=dict)


def load_calibrated(path: Path) -> CalibratedFacts | None:
    """The calibrated facts in ``path``; None when the file does not exist. A broken file is
    a ``FactsError`` that names it and says how to rebuild it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    redo = "; fix it or delete it and run `alma-p2p calibrate` again"
    try:
        data = yamlfile.load(text)
        return CalibratedFacts.model_validate(data)
    except yaml.YAMLError as exc:
        raise FactsError(f"{path}: {yamlfile.problem(exc)}{redo}") from exc
    except ValidationError as exc:
        lines = [
            f"  - {'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise FactsError("\n".join([f"{path}: not a valid facts file{redo}", *lines])) from exc


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (evidence) as literal blocks, so the file reads like the exchange."""


def _str_block(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_block)

CALIBRATED_HEADER = (
    "# Alma facts of this institution as its sandbox answered them: written by\n"
    "# `alma-p2p calibrate`, read by the harness (calibrated value, else the register's).\n"
    "# A fact listed as assumed says why. Do not edit by hand: calibrate again.\n"
)


def render_calibrated(calibrated: CalibratedFacts) -> str:
    """The facts file's text: sorted, no timestamp beyond each fact's date, so the same
    answers give the same bytes."""
    data = calibrated.model_dump(mode="json", exclude_none=True)
    data["facts"] = {k: data["facts"][k] for k in sorted(data["facts"])}
    body = yaml.dump(data, Dumper=_BlockDumper, sort_keys=True, allow_unicode=True, width=100)
    return CALIBRATED_HEADER + body


@dataclass(frozen=True)
class Facts:
    """What the harness takes as true about one institution's Alma: the calibrated value
    where ``alma-p2p calibrate`` observed one, else the register's assumed value."""

    register: Register
    calibrated: CalibratedFacts | None = None

    def value(self, fact_id: str) -> str:
        """The calibrated value of ``fact_id`` if any, else the register's assumed one."""
        entry = self.entry(fact_id)
        if entry is not None and entry.status == "calibrated" and entry.value:
            return entry.value
        return self.register.fact(fact_id).assumed

    def entry(self, fact_id: str) -> CalibratedFact | None:
        """The calibration record of ``fact_id`` (KeyError for an id the register lacks)."""
        self.register.fact(fact_id)
        return self.calibrated.facts.get(fact_id) if self.calibrated else None

    def is_calibrated(self, fact_id: str) -> bool:
        entry = self.entry(fact_id)
        return entry is not None and entry.status == "calibrated"

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(fact id, calibrated | assumed, value, date or why) for every fact, register order."""
        out = []
        for fact in self.register:
            entry = self.entry(fact.id)
            if entry is not None and entry.status == "calibrated":
                shown = entry.value or ""
                if entry.seen:
                    shown += f" ({entry.seen})"
                out.append((fact.id, "calibrated", shown, str(entry.date)))
            else:
                why = (
                    entry.why
                    if entry is not None and entry.why
                    else f"not calibrated: no {CALIBRATED_FILE} (run alma-p2p calibrate)"
                )
                out.append((fact.id, "assumed", fact.assumed, why))
        return out


def institution_facts(profiles_dir: Path, name: str) -> Facts:
    """The facts view of the institution whose profile is ``profiles_dir/name``."""
    return Facts(load_register(), load_calibrated(profiles_dir / name / CALIBRATED_FILE))
