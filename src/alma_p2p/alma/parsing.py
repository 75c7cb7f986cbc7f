"""Reading Alma's answers: JSON records into typed models, error bodies, Analytics XML.

Nothing here sends a request. A shape the models do not accept is an ``AlmaContractError``
naming the field; error details come from Alma's JSON ``errorList`` or XML
``web_service_result``; an HTML page is told apart from an API answer.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from alma_p2p.alma.errors import AlmaContractError, ErrorDetail, NotAnAlmaGateway
from alma_p2p.alma.models import Page

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class AnalyticsPage:
    rows: tuple[dict[str, str], ...]
    token: str | None
    finished: bool


def parse_analytics(text: str, headings: dict[str, str]) -> AnalyticsPage:
    """One page of an Analytics answer; ``headings`` (ColumnN → heading) carries over pages.

    Shape as public Analytics clients read it: ``QueryResult`` with ``ResumptionToken``,
    ``IsFinished`` and ``ResultXml/rowset`` (``urn:schemas-microsoft-com:xml-analysis:rowset``)
    whose schema gives each ``ColumnN`` a ``saw-sql:columnHeading``.
    UNVERIFIED(analytics.xml_shape).
    """
    try:
        root = ET.fromstring(text)  # noqa: S314 - the configured gateway; expat refuses bombs
    except ET.ParseError as exc:
        raise AlmaContractError(
            "GET", "/almaws/v1/analytics/reports", "Analytics", [f"not XML: {exc}"]
        ) from exc
    token: str | None = None
    finished = False
    rows = []
    for element in root.iter():
        name = _local(element.tag)
        if name == "ResumptionToken":
            token = (element.text or "").strip() or None
        elif name == "IsFinished":
            finished = (element.text or "").strip().lower() == "true"
        elif name == "element" and (element.get("name") or "").startswith("Column"):
            column = element.get("name", "")
            headings[column] = next(
                (v for k, v in element.attrib.items() if k.endswith("columnHeading")), column
            )
        elif name == "Row":
            rows.append(
                {
                    headings.get(_local(c.tag), _local(c.tag)): (c.text or "").strip()
                    for c in element
                }
            )
    return AnalyticsPage(tuple(rows), token, finished)


def parse_error_details(content: bytes) -> tuple[ErrorDetail, ...]:
    """Error details from Alma's JSON ``errorList`` or XML ``web_service_result``."""
    text = content.strip()
    if not text:
        return ()
    if text.startswith(b"{"):
        try:
            data = json.loads(text)
        except ValueError:
            return ()
        return _json_details(data)
    if text.startswith(b"<"):
        return _xml_details(text)
    return ()


def _json_details(data: Any) -> tuple[ErrorDetail, ...]:
    if isinstance(data, dict) and "web_service_result" in data:
        data = data["web_service_result"]
    if not isinstance(data, dict):
        return ()
    error_list = data.get("errorList") or {}
    errors = error_list.get("error") if isinstance(error_list, dict) else error_list
    if isinstance(errors, dict):
        errors = [errors]
    details = []
    for entry in errors or []:
        if isinstance(entry, dict) and entry.get("errorCode") is not None:
            details.append(
                ErrorDetail(
                    code=str(entry["errorCode"]),
                    message=str(entry.get("errorMessage") or ""),
                    tracking_id=entry.get("trackingId") or None,
                )
            )
    return tuple(details)


def _xml_details(text: bytes) -> tuple[ErrorDetail, ...]:
    try:
        # The body comes from the configured gateway; expat >= 2.4.1 refuses entity bombs.
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError:
        return ()
    details = []
    for error in root.iter():
        if _local(error.tag) != "error":
            continue
        fields = {_local(child.tag): (child.text or "").strip() for child in error}
        if fields.get("errorCode"):
            details.append(
                ErrorDetail(
                    code=fields["errorCode"],
                    message=fields.get("errorMessage", ""),
                    tracking_id=fields.get("trackingId") or None,
                )
            )
    return tuple(details)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def looks_like_html(content_type: str, content: bytes) -> bool:
    if "html" in content_type.lower():
        return True
    head = content[:200].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def validate(model: type[M], data: Any, method: str, path: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise AlmaContractError(method, path, model.__name__, problems(exc)) from exc


def problems(exc: ValidationError, prefix: str = "") -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        where = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or "(root)")
        out.append(f"{where}: {err['msg']}")
    return out


def page(model: type[M], path: str, data: Any, key: str) -> Page[M]:
    """One page of a list answer: the records under ``key`` and the total count."""
    if not isinstance(data, dict):
        raise AlmaContractError("GET", path, f"list of {key}", ["answer is not an object"])
    raw = data.get(key)
    # Empty lists come as a missing key, null or []; a lone record sometimes as an object.
    if raw is None or raw == "":
        raw = []
    adapter = TypeAdapter(tuple[model, ...])  # type: ignore[valid-type]
    try:
        records = adapter.validate_python(raw)
    except ValidationError as exc:
        raise AlmaContractError("GET", path, model.__name__, problems(exc, key)) from exc
    total = data.get("total_record_count")
    return Page[model](  # type: ignore[valid-type]
        records=records, total_record_count=int(total) if total else len(records)
    )


def excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat[:200] + ("…" if len(flat) > 200 else "")


def json_of(method: str, shown: str, response: httpx.Response) -> Any:
    """The JSON of an answer (None when empty); an HTML page or non-JSON is named."""
    if response.status_code == 204 or not response.content:
        return None
    kind = response.headers.get("content-type", "")
    if looks_like_html(kind, response.content):
        raise NotAnAlmaGateway(method, shown, response.status_code, kind)
    try:
        return response.json()
    except ValueError as exc:
        raise AlmaContractError(
            method, shown, "JSON", [f"answer is not JSON ({kind or 'no type'})"]
        ) from exc
