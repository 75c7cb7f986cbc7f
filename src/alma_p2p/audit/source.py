"""Where patrons come from: Alma's user pages, or a users XML export read as a stream.

Live: ``GET /users?limit=100&offset=N`` gives brief records (status, no RS library), then
``GET /users/{id}?view=full`` each patron in scope. Both go through the client's chokepoint
uncached: an audit reads each record once, and a cache would grow with the institution.

From a file: ``xml.etree.ElementTree.iterparse`` yields each ``<user>`` and clears it, so
memory does not grow with the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree

from alma_p2p.alma import AlmaClient
from alma_p2p.alma.http import display
from alma_p2p.alma.models import User, UserBrief
from alma_p2p.alma.parsing import page, validate
from alma_p2p.audit.rules import AuditError, Patron

PAGE_SIZE = 100  # the most Alma gives per page (alma-api.md §1.3)


@dataclass(frozen=True)
class Brief:
    primary_id: str
    status: str | None


def list_page(client: AlmaClient, offset: int) -> tuple[int, list[Brief]]:
    """One page of the user list: (total_record_count, briefs)."""
    params = {"limit": PAGE_SIZE, "offset": offset}
    data = client.get_json("/users", params, cache=False)
    found = page(UserBrief, display("/users", {k: str(v) for k, v in params.items()}), data, "user")
    return found.total_record_count, [Brief(u.primary_id, u.status.value) for u in found.records]


def read_patron(client: AlmaClient, primary_id: str) -> Patron:
    """A patron's full record."""
    path = f"/users/{quote(primary_id, safe='')}"
    data = client.get_json(path, {"view": "full"}, cache=False)
    user = validate(User, data, "GET", display(path, {"view": "full"}))
    return Patron(
        user.primary_id,
        user.status.value,
        user.record_type.value,
        user.user_group.value,
        user.campus_code.value,
        user.rs_library_codes,
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_users_xml(path: Path) -> Iterator[Patron]:
    """The patrons of a users XML file in Alma's user schema, one at a time.

    UNVERIFIED(audit.users_export_xml): ``<users><user>…`` with ``rs_libraries/rs_library/code``
    (the XML names of alma-api.md §2.1); a namespace on the elements is ignored.
    """
    try:
        # The librarian's own export; expat (2.4+) refuses entity bombs.
        events = ElementTree.iterparse(path, events=("start", "end"))  # noqa: S314
        root = None
        seen = 0
        for event, elem in events:
            if root is None:
                root = elem
                if _local(elem.tag) not in {"users", "user"}:
                    raise AuditError(
                        f"{path}: the root element is <{_local(elem.tag)}>, not <users>: give "
                        "a users XML file in Alma's user schema (the user export's format)"
                    )
                continue
            if event != "end" or _local(elem.tag) != "user":
                continue
            seen += 1
            yield _patron(path, elem, seen)
            elem.clear()
            root.clear()  # drop the cleared <user> from the root as well
    except ElementTree.ParseError as exc:
        line, column = exc.position
        raise AuditError(
            f"{path}: not well-formed XML at line {line}, column {column}; the audit stopped "
            "there and wrote nothing: export the users again"
        ) from None
    except OSError as exc:
        raise AuditError(f"{path}: cannot read the users file ({exc.strerror})") from None


def _patron(path: Path, user: ElementTree.Element, n: int) -> Patron:
    fields: dict[str, str | None] = {}
    libraries: list[str] = []
    for child in user:
        name = _local(child.tag)
        if name == "rs_libraries":
            for lib in child:
                for code in lib:
                    if _local(code.tag) == "code" and (code.text or "").strip():
                        libraries.append((code.text or "").strip())
        else:
            fields[name] = (child.text or "").strip() or None
    primary_id = fields.get("primary_id")
    if not primary_id:
        raise AuditError(f"{path}: user number {n} has no <primary_id>; export the users again")
    return Patron(
        primary_id,
        fields.get("status"),
        fields.get("record_type"),
        fields.get("user_group"),
        fields.get("campus_code"),
        tuple(libraries),
    )
