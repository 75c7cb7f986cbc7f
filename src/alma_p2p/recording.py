"""Recording policy: how Alma traffic becomes a cassette, and how a cassette is replayed.

- The gateway's scheme, host and port are rewritten to ``https://alma.invalid`` before a
  request is recorded *or matched* (and in links inside answers), so a cassette recorded
  against a sandbox, or against a stand-in on any port, replays anywhere, holds no host of
  ours, and two recordings of an unchanged Alma are byte-identical.
- Request headers other than ``Accept`` and ``Content-Type`` are dropped.
- The key never reaches a cassette: the ``Authorization`` header and any ``apikey`` query
  parameter are dropped before recording.
- Volatile headers (``Date``, ``X-Exl-Api-Remaining``, cookies, ``Server``) are dropped.
- Patron contact data in JSON bodies (names, e-mails, phones, addresses, birth dates) is
  replaced by stable pseudonyms: the same value gives the same pseudonym in every cassette.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from alma_p2p import yamlfile
from alma_p2p.files import write_atomic

CANONICAL_ORIGIN = "https://alma.invalid"
REPLAY_BASE_URL = CANONICAL_ORIGIN + "/almaws/v1"

DROP_RESPONSE_HEADERS = frozenset(
    {"date", "x-exl-api-remaining", "set-cookie", "server", "connection", "keep-alive"}
)
DROP_QUERY = frozenset({"apikey"})

# Keys whose string values are patron data wherever they appear in a JSON body.
PATRON_TEXT_KEYS = frozenset(
    {
        "first_name",
        "middle_name",
        "last_name",
        "full_name",
        "preferred_first_name",
        "preferred_middle_name",
        "preferred_last_name",
        "email_address",
        "phone_number",
        "line1",
        "line2",
        "line3",
        "line4",
        "line5",
        "postal_code",
        "birth_date",
        "pin_number",
    }
)


def pseudonym(value: str, kind: str) -> str:
    """A stable stand-in for a patron value: same input, same output, no way back.

    Contact values start with ``X`` so a scrubbed cassette is recognisable at a glance
    (and by the usual "unscrubbed contact field" greps).
    """
    digest = hashlib.sha256(f"{kind}\0{value}".encode()).hexdigest()[:10]
    if kind == "email_address":
        return f"X-patron-{digest}@example.invalid"
    if kind == "phone_number":
        return "XXX-555-01" + str(int(digest, 16) % 100).zfill(2)
    if kind == "birth_date":
        return "XXXX-XX-XX"
    return f"{kind.split('_', maxsplit=1)[0].capitalize()}-{digest}"


def scrub_json(data: Any) -> Any:
    """A copy of ``data`` with every patron value replaced by its pseudonym."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key in PATRON_TEXT_KEYS and isinstance(value, str) and value:
                out[key] = pseudonym(value, key)
            elif key == "user_identifier" and isinstance(value, list):
                # A patron's barcodes and other identifiers: same value, same pseudonym.
                out[key] = [
                    {**v, "value": pseudonym(str(v["value"]), "identifier")}
                    if isinstance(v, dict) and v.get("value")
                    else v
                    for v in value
                ]
            else:
                out[key] = scrub_json(value)
        return out
    if isinstance(data, list):
        return [scrub_json(v) for v in data]
    return data


def canonical_uri(uri: str) -> str:
    """The URI with the canonical origin and without an ``apikey`` parameter."""
    parts = urlsplit(uri)
    path = parts.path
    at = path.find("/almaws/v1")
    if at > 0:
        path = path[at:]
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in DROP_QUERY
    ]
    origin = urlsplit(CANONICAL_ORIGIN)
    return urlunsplit((origin.scheme, origin.netloc, path, urlencode(query), ""))


# Request headers kept in a cassette: only what shapes Alma's answer.
KEEP_REQUEST_HEADERS = frozenset({"accept", "content-type"})
_GATEWAY = re.compile(r"https?://[^/\s\"'<>]+(?=/almaws/v1)")


def before_record_request(request: Any) -> Any:
    request.uri = canonical_uri(request.uri)
    for name in list(request.headers):
        if name.lower() not in KEEP_REQUEST_HEADERS:
            del request.headers[name]
    return request


def before_record_response(response: dict[str, Any]) -> dict[str, Any]:
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in DROP_RESPONSE_HEADERS:
            del headers[name]
        elif name.lower() == "location":
            headers[name] = [canonical_uri(v) for v in headers[name]]
    body = response.get("body", {})
    raw = body.get("string")
    if isinstance(raw, bytes | str) and raw:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        # Links inside bodies name the gateway that answered; keep them canonical too.
        text = _GATEWAY.sub(CANONICAL_ORIGIN, text)
        body["string"] = text.encode() if isinstance(raw, bytes) else text
        if text.lstrip().startswith(("{", "[")):
            try:
                data = json.loads(text)
            except ValueError:
                pass
            else:
                scrubbed = json.dumps(scrub_json(data), ensure_ascii=False, sort_keys=False)
                body["string"] = scrubbed.encode() if isinstance(raw, bytes) else scrubbed
    return response


_NOT_JSON = object()


def _json_or_raw(body: Any) -> Any:
    raw = body.encode() if isinstance(body, str) else (body or b"")
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return _NOT_JSON


def json_diff(sent: Any, recorded: Any, where: str = "") -> list[str]:
    """Field-by-field differences between two JSON values, as ``path: sent vs recorded``."""
    if isinstance(sent, dict) and isinstance(recorded, dict):
        out = []
        for key in sorted(set(sent) | set(recorded), key=str):
            at = f"{where}.{key}" if where else str(key)
            if key not in recorded:
                out.append(f"{at}: sent {sent[key]!r}, not in the recording")
            elif key not in sent:
                out.append(f"{at}: not sent, recorded {recorded[key]!r}")
            else:
                out.extend(json_diff(sent[key], recorded[key], at))
        return out
    if isinstance(sent, list) and isinstance(recorded, list) and len(sent) == len(recorded):
        return [
            d
            for i, (a, b) in enumerate(zip(sent, recorded, strict=True))
            for d in json_diff(a, b, f"{where}[{i}]")
        ]
    if sent != recorded:
        return [f"{where or 'body'}: sent {sent!r}, recorded {recorded!r}"]
    return []


def json_body(r1: Any, r2: Any) -> None:
    """vcrpy matcher: JSON bodies compare as data (key order and spacing do not matter)."""
    a, b = _json_or_raw(r1.body), _json_or_raw(r2.body)
    if a is _NOT_JSON or b is _NOT_JSON:
        assert (r1.body or b"") == (r2.body or b""), "bodies differ"
        return
    differences = json_diff(a, b)
    assert not differences, "; ".join(differences[:6])


def make_vcr(config: Mapping[str, Any]) -> Any:
    """A ``vcr.VCR`` from keyword arguments such as :func:`vcr_config` gives."""
    import vcr

    recorder = vcr.VCR(**config)
    recorder.register_matcher("json_body", json_body)
    recorder.register_persister(_CassetteFiles)
    return recorder


_CLOSING = re.compile(r"^version:", re.MULTILINE)


class CassetteDamaged(Exception):
    """A cassette file that exists but cannot be replayed; the message names it and the place."""


class _CassetteFiles:
    """vcrpy's filesystem persister, except that a damaged cassette is an error naming the
    file and the place instead of an empty cassette (vcrpy's choice for bad encoding) or a
    bare YAML traceback."""

    @staticmethod
    def load_cassette(cassette_path: Any, serializer: Any) -> Any:
        from vcr.persisters.filesystem import CassetteNotFoundError
        from vcr.serialize import deserialize

        path = Path(cassette_path)
        if not path.is_file():
            raise CassetteNotFoundError()
        data = path.read_bytes()
        if not data.strip():
            raise CassetteDamaged(f"{path}: the cassette is empty")
        try:
            text = yamlfile.decode(data, path)
            loaded = deserialize(text, serializer)
        except yamlfile.YamlFileError as exc:
            raise CassetteDamaged(str(exc)) from None
        except Exception as exc:  # any failure of vcrpy's reader is damage
            raise CassetteDamaged(_cassette_problem(path, text, exc)) from None
        for index, response in enumerate(loaded[1]):
            status = response.get("status") if isinstance(response, dict) else None
            if not isinstance(status, dict) or not {"code", "message"} <= status.keys():
                raise CassetteDamaged(f"{path}: interactions[{index}].response is cut short")
        if not _CLOSING.search(text):
            # vcrpy writes the top-level keys sorted, so a cassette cut between two
            # interactions is still valid YAML: only its closing "version: 1" is missing.
            last = text.rstrip().count("\n") + 1
            raise CassetteDamaged(
                f"{path}: cut short after line {last}: the closing 'version: 1' is missing"
            )
        return loaded

    @staticmethod
    def save_cassette(cassette_path: Any, cassette_dict: Any, serializer: Any) -> None:
        from vcr.persisters.filesystem import FilesystemPersister

        FilesystemPersister.save_cassette(cassette_path, cassette_dict, serializer)


def _cassette_problem(path: Path, text: str, exc: Exception) -> str:
    """Where a cassette vcrpy could not read is damaged (the node tree only now)."""
    try:
        data = yamlfile.parse(text, path)
    except yamlfile.YamlFileError as damaged:
        return str(damaged)
    interactions = data.get("interactions") if isinstance(data, dict) else None
    if not isinstance(interactions, list):
        return f"{path}: not a cassette (no 'interactions' list at the top)"
    for index, entry in enumerate(interactions):
        missing = [
            k for k in ("request", "response") if not isinstance(entry, dict) or k not in entry
        ]
        if missing:
            return f"{path}: interactions[{index}] has no {' or '.join(missing)} (cut short?)"
    return f"{path}: vcrpy cannot read it ({type(exc).__name__}: {exc})"


def redacted_exchange(method: str, uri: str, status: int, body: bytes) -> str:
    """One Alma exchange as text for a report: canonical URI, no key, patrons pseudonymised."""
    text = body.decode("utf-8", "replace")
    text = _GATEWAY.sub(CANONICAL_ORIGIN, text)
    if text.lstrip().startswith(("{", "[")):
        with contextlib.suppress(ValueError):
            text = json.dumps(scrub_json(json.loads(text)), indent=2, ensure_ascii=False)
    return f"{method} {canonical_uri(uri)} → {status}\n\n{text}"


def vcr_config(record: bool) -> dict[str, Any]:
    """Keyword arguments for ``vcr.VCR``: replay-only unless recording."""
    return {
        "record_mode": "all" if record else "none",
        "match_on": ("method", "scheme", "host", "port", "path", "query", "json_body"),
        "before_record_request": before_record_request,
        "before_record_response": before_record_response,
        "decode_compressed_response": True,
        # The harness reaches Alma only through httpx. vcrpy otherwise tries to import and
        # patch eight other HTTP libraries on every cassette; replay still blocks sockets.
        "skip_patchers": tuple(name for name in _VCR_PATCHERS if name != "httpx"),
    }


# vcrpy's patcher names (vcr.patch.PATCHER_NAMES), listed here so importing this module
# does not import vcrpy.
_VCR_PATCHERS = (
    "httplib",
    "requests",
    "boto3",
    "urllib3",
    "httplib2",
    "tornado",
    "aiohttp",
    "httpx",
    "httpx2",
)


META_FILE = "_recording.yaml"


def write_metadata(folder: Path, facts: dict[str, Any], written: Mapping[str, str]) -> None:
    """``cassettes/<institution>/_recording.yaml``: the set-level ``facts`` (institution,
    region, gateway, harness version) and, under ``cassettes``, each cassette's own
    ``recorded_on``; only the cassettes in ``written`` (path relative to ``folder`` → date)
    get a new date, the others keep theirs."""
    import yaml

    old = read_metadata(folder)
    dates: dict[str, str] = dict(old.get("cassettes") or {})
    if not dates and old.get("recorded_on"):
        # The old format: one date for the whole set, which every cassette then had.
        for cassette in folder.rglob("*.yaml"):
            if cassette.name != META_FILE:
                dates[cassette.relative_to(folder).as_posix()] = str(old["recorded_on"])
    dates.update(written)
    dates = {k: v for k, v in dates.items() if (folder / k).is_file()}
    meta = {**facts, "cassettes": dict(sorted(dates.items()))}
    write_atomic(folder / META_FILE, yaml.safe_dump(meta, sort_keys=False))


def read_metadata(folder: Path) -> dict[str, Any]:
    """The facts of ``_recording.yaml`` ({} when there is none), with ``recorded_on`` the
    oldest cassette's date: what a staleness warning must go by."""
    path = folder / META_FILE
    if not path.is_file():
        return {}
    _text, data = yamlfile.read(path)
    if not isinstance(data, dict):
        raise yamlfile.YamlFileError(f"{path}: expected a mapping of recording facts")
    dates = data.get("cassettes")
    if isinstance(dates, dict) and dates:
        data["recorded_on"] = min(str(v) for v in dates.values())
    return data


def slug(text: str) -> str:
    """A file-name-safe form of a scenario name."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "scenario"


def cassette_path(root: Path, institution: str, feature_rel: str, scenario: str) -> Path:
    """``cassettes/<institution>/<feature path without .feature>/<scenario slug>.yaml``."""
    feature = Path(feature_rel).with_suffix("")
    return root / institution / feature / f"{slug(scenario)}.yaml"
