"""Drift: what changed in Alma's answers between a baseline recording and a new one.

After a monthly Alma release, record into a fresh folder and compare it with the committed
cassettes. Two kinds of change are reported per institution:

- **shape**: per endpoint, JSON fields added, removed, or whose type changed. A change to a
  field the harness's models rely on is *breaking* (the contract in ``alma.models``).
- **configuration values**: values of configuration answers (libraries, locations, jobs,
  code tables, partners) that differ, e.g. a job rescheduled or a partner deactivated.

``null`` values carry no shape (Alma uses them for "empty"), so they never count as drift.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from alma_p2p import yamlfile
from alma_p2p.alma import models
from alma_p2p.recording import canonical_uri

PREFIX = "/almaws/v1"
WORDS = frozenset(
    {
        "conf", "general", "libraries", "locations", "circ-desks", "jobs", "instances",
        "code-tables", "users", "operation", "test", "partners", "lending-requests",
        "resource-sharing-requests", "bibs", "holdings", "items", "task-lists", "rs",
    }
)  # fmt: skip

# Endpoint template → (model, key of the records in a list answer or "" for one object).
CONTRACT: dict[str, tuple[type[BaseModel], str]] = {
    "/conf/general": (models.General, ""),
    "/conf/libraries": (models.Library, "library"),
    "/conf/libraries/{}": (models.Library, ""),
    "/conf/libraries/{}/locations": (models.Location, "location"),
    "/conf/libraries/{}/locations/{}": (models.Location, ""),
    "/conf/libraries/{}/circ-desks": (models.CircDesk, "circ_desk"),
    "/conf/jobs": (models.Job, "job"),
    "/conf/jobs/{}/instances": (models.JobInstance, "job_instance"),
    "/conf/code-tables/{}": (models.CodeTable, ""),
    "/users": (models.UserBrief, "user"),
    "/users/{}": (models.User, ""),
    "/users/{}/resource-sharing-requests": (models.RsRequest, ""),
    "/users/{}/resource-sharing-requests/{}": (models.RsRequest, ""),
    "/partners": (models.Partner, "partner"),
    "/partners/{}": (models.Partner, ""),
    "/partners/{}/lending-requests": (models.RsRequest, ""),
    "/partners/{}/lending-requests/{}": (models.RsRequest, ""),
    "/task-lists/rs/lending-requests": (models.RsRequest, "user_resource_sharing_request"),
    "/bibs/{}/holdings/{}/items/{}": (models.Item, ""),
}
CONFIG_PREFIXES = ("/conf/", "/partners")


@dataclass(frozen=True)
class ShapeChange:
    institution: str
    endpoint: str
    field: str
    change: str  # "added" | "removed" | "type"
    before: str
    after: str
    breaking: bool


@dataclass(frozen=True)
class ValueChange:
    institution: str
    resource: str
    field: str
    before: str
    after: str


@dataclass
class Drift:
    shapes: list[ShapeChange] = field(default_factory=list)
    values: list[ValueChange] = field(default_factory=list)

    @property
    def breaking(self) -> bool:
        return any(s.breaking for s in self.shapes)


def template(path: str) -> str:
    """``/users/P2P-1/resource-sharing-requests/9`` → ``/users/{}/resource-sharing-requests/{}``."""
    parts = [p if p in WORDS else "{}" for p in path.strip("/").split("/") if p]
    return "/" + "/".join(parts)


def contract_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every JSON path a model reads, e.g. ``rs_library[].code.value``."""
    out: set[str] = set()
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        here = f"{prefix}.{name}" if prefix else name
        out.add(here)
        out |= _annotation_paths(info.annotation, here)
    return out


def _annotation_paths(annotation: Any, here: str) -> set[str]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _annotation_paths(typing.get_args(annotation)[0], here)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_annotation_paths(a, here) for a in typing.get_args(annotation)))
    if origin is tuple:
        return {here + "[]"} | _annotation_paths(typing.get_args(annotation)[0], here + "[]")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return contract_paths(annotation, here)
    return set()


def _shape(data: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if data is None:
        return
    if isinstance(data, dict):
        if path:
            yield path, "object"
        for key, value in data.items():
            yield from _shape(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        yield path, "array"
        for value in data:
            yield from _shape(value, path + "[]")
    else:
        yield path, type(data).__name__


def _values(data: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key != "link":
                yield from _values(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            ident = value.get("code") or value.get("id") if isinstance(value, dict) else None
            yield from _values(value, f"{path}[{ident or i}]")
    elif data is not None:
        yield path, json.dumps(data)


@dataclass
class _Recording:
    shapes: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # endpoint → path → types
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # resource → path → value


def read_recording(folder: Path) -> _Recording:
    """Shapes and configuration values of every successful JSON GET under ``folder``."""
    recording = _Recording()
    for cassette in sorted(folder.rglob("*.yaml")):
        data = yamlfile.load(cassette.read_text(encoding="utf-8")) or {}
        for interaction in data.get("interactions", []):
            request, response = interaction["request"], interaction["response"]
            if request["method"] != "GET" or not 200 <= response["status"]["code"] < 300:
                continue
            raw = response["body"].get("string") or ""
            try:
                body = json.loads(raw)
            except ValueError:
                continue
            uri = canonical_uri(request["uri"])
            path = uri.split(PREFIX, 1)[-1].split("?", 1)[0]
            endpoint = template(path)
            shapes = recording.shapes.setdefault(endpoint, {})
            for json_path, kind in _shape(body):
                shapes.setdefault(json_path, set()).add(kind)
            if path.startswith(CONFIG_PREFIXES):
                recording.values.setdefault(path, {}).update(_values(body))
    return recording


def _contract_for(endpoint: str) -> set[str]:
    if endpoint not in CONTRACT:
        return set()
    model, key = CONTRACT[endpoint]
    paths = contract_paths(model)
    return {f"{key}[].{p}" for p in paths} | {f"{key}[]"} if key else paths


def compare(baseline: Path, new: Path, institutions: list[str] | None = None) -> Drift:
    """Drift between two cassette folders (``cassettes/<institution>/…`` each)."""
    drift = Drift()
    names = institutions or sorted(
        p.name for p in new.iterdir() if p.is_dir() and (baseline / p.name).is_dir()
    )
    for name in names:
        before, after = read_recording(baseline / name), read_recording(new / name)
        for endpoint in sorted(set(before.shapes) & set(after.shapes)):
            contract = _contract_for(endpoint)
            old, now = before.shapes[endpoint], after.shapes[endpoint]
            for json_path in sorted(set(old) | set(now)):
                a, b = old.get(json_path, set()), now.get(json_path, set())
                if a == b:
                    continue
                change = "added" if not a else "removed" if not b else "type"
                drift.shapes.append(
                    ShapeChange(
                        name,
                        endpoint,
                        json_path,
                        change,
                        "/".join(sorted(a)) or "-",
                        "/".join(sorted(b)) or "-",
                        breaking=change != "added" and json_path in contract,
                    )
                )
        for resource in sorted(set(before.values) & set(after.values)):
            old_values, new_values = before.values[resource], after.values[resource]
            for json_path in sorted(set(old_values) | set(new_values)):
                a_value = old_values.get(json_path, "-")
                b_value = new_values.get(json_path, "-")
                if a_value != b_value:
                    drift.values.append(ValueChange(name, resource, json_path, a_value, b_value))
    return drift


def to_json(drift: Drift) -> str:
    return json.dumps(
        {
            "breaking": drift.breaking,
            "shapes": [asdict(s) for s in drift.shapes],
            "values": [asdict(v) for v in drift.values],
        },
        indent=2,
    )


def to_markdown(drift: Drift) -> str:
    out = ["# Drift against the baseline", ""]
    verdict = "BREAKING for the harness's contract" if drift.breaking else "no breaking change"
    out += [f"**{verdict}**: {len(drift.shapes)} shape change(s), "
            f"{len(drift.values)} configuration value change(s).", ""]  # fmt: skip
    if drift.shapes:
        out += ["## Response shapes", "", "| institution | endpoint | field | change | breaking |"]
        out.append("|---|---|---|---|---|")
        for s in drift.shapes:
            what = f"{s.change}: {s.before} → {s.after}"
            out.append(
                f"| {s.institution} | `{s.endpoint}` | `{s.field}` | {what} | "
                f"{'**yes**' if s.breaking else 'no'} |"
            )
        out.append("")
    if drift.values:
        out += [
            "## Configuration values",
            "",
            "| institution | resource | field | before | after |",
        ]
        out.append("|---|---|---|---|---|")
        for v in drift.values:
            out.append(
                f"| {v.institution} | `{v.resource}` | `{v.field}` | {v.before} | {v.after} |"
            )
        out.append("")
    return "\n".join(out)
