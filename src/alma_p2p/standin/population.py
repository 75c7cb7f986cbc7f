"""A seeded population of patrons for a large institution, with planted RS-library faults.

``Population`` describes an institution with several campuses, each mapped to its resource
sharing (RS) library, and draws ``size`` patrons from a seed. Most carry the right RS
library; the rest are planted: none, the wrong one, more than one, a library that is not
flagged for resource sharing, a campus the mapping forgets, and patrons the audit must leave
alone (inactive, or of an out-of-scope user group). ``planted()`` is the answer key, known
from the draw and not from the audit's rules.

The same population is written three ways: as a stand-in world (``world_data``), as the
profile that describes it (``profile_data``) and as Alma's users XML (``write_users_xml``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from xml.sax.saxutils import escape

# Planted kinds and how often each is drawn (the rest carry the right RS library).
PLANTED = {
    "missing": 0.05,
    "wrong": 0.04,
    "multiple": 0.02,
    "not_rs": 0.02,
    "unmapped": 0.02,
    "inactive": 0.03,  # a wrong RS library the audit must not report: not an active patron
    "out_of_scope": 0.03,  # no RS library, in a group the profile leaves out
}
# Kinds the audit must report, by the finding it must give.
REPORTED = ("missing", "wrong", "multiple", "not_rs", "unmapped")
NOT_RS_LIBRARY = "ARCHIVE"
NEW_CAMPUS = "NEWCAMPUS"
OUT_OF_SCOPE_GROUP = "ALUMNI"
GROUPS = ("UNDERGRAD", "GRAD", "FACULTY", "STAFF")


@dataclass(frozen=True)
class Patron:
    """One drawn patron and what was planted on it ("ok" when nothing was)."""

    primary_id: str
    campus_code: str
    user_group: str
    status: str
    rs_libraries: tuple[str, ...]
    planted: str


@dataclass(frozen=True)
class Population:
    """An institution of ``size`` patrons over ``campuses`` campuses, drawn from ``seed``."""

    size: int
    seed: int = 1
    campuses: int = 3
    code: str = "01BIG_INST"
    id_prefix: str = "P"

    @property
    def campus_codes(self) -> tuple[str, ...]:
        return tuple(f"CAMPUS{n}" for n in range(1, self.campuses + 1))

    @property
    def mapping(self) -> dict[str, str]:
        """campus code → RS library."""
        return {campus: f"RS{n}" for n, campus in enumerate(self.campus_codes, start=1)}

    def patrons(self) -> Iterator[Patron]:
        """The patrons, drawn afresh each time (same seed, same patrons)."""
        draw = random.Random(self.seed)  # noqa: S311 - a test population, not a secret
        libraries = list(self.mapping.values())
        kinds = list(PLANTED)
        weights = list(PLANTED.values())
        ok = 1.0 - sum(weights)
        for n in range(self.size):
            campus = draw.choice(self.campus_codes)
            right = self.mapping[campus]
            others = [lib for lib in libraries if lib != right]
            kind = draw.choices([*kinds, "ok"], [*weights, ok])[0]
            group = draw.choice(GROUPS)
            status = "ACTIVE"
            rs: tuple[str, ...] = (right,)
            if kind == "missing":
                rs = ()
            elif kind == "wrong":
                rs = (draw.choice(others),)
            elif kind == "multiple":
                rs = (right, draw.choice(others))
            elif kind == "not_rs":
                rs = (NOT_RS_LIBRARY,)
            elif kind == "unmapped":
                campus = NEW_CAMPUS
                rs = draw.choice([(), (right,)])
            elif kind == "inactive":
                status = "INACTIVE"
                rs = (draw.choice(others),)
            elif kind == "out_of_scope":
                group = OUT_OF_SCOPE_GROUP
                rs = ()
            yield Patron(f"{self.id_prefix}{n:07d}", campus, group, status, rs, kind)

    def planted(self) -> dict[str, str]:
        """primary_id → the finding the audit must report; nobody else may be reported."""
        return {p.primary_id: p.planted for p in self.patrons() if p.planted in REPORTED}

    # -- the world, the profile, the export ------------------------------------------

    def world_data(
        self,
        *,
        key: str = "l7xxBIGINSTKEY",
        per_second: int = 25,
        daily: int = 1_000_000,
        latency_ms: int = 0,
    ) -> dict[str, Any]:
        """A stand-in world (as YAML data) holding this institution and its patrons."""
        libraries: list[dict[str, Any]] = [
            {"code": lib, "name": f"{campus.title()} Library", "resource_sharing": True}
            for campus, lib in self.mapping.items()
        ]
        libraries.append({"code": NOT_RS_LIBRARY, "name": "Archive", "resource_sharing": False})
        users = [
            {
                "primary_id": p.primary_id,
                "user_group": p.user_group,
                "campus_code": p.campus_code,
                "status": p.status,
                "rs_libraries": list(p.rs_libraries),
            }
            for p in self.patrons()
        ]
        return {
            "latency_ms": latency_ms,
            "institutions": [
                {
                    "code": self.code,
                    "name": "Big State University",
                    "per_second_threshold": per_second,
                    "daily_threshold": daily,
                    "api_keys": [{"key": key, "areas": {"Users": "R", "Configuration": "R"}}],
                    "libraries": libraries,
                    "users": users,
                }
            ],
        }

    def profile_data(self) -> dict[str, Any]:
        """The institution profile that states the mapping this population should follow."""
        return {
            "institution": {"code": self.code, "name": "Big State University", "region": "na"},
            "resource_sharing_libraries": [
                {
                    "code": lib,
                    "name": f"{campus.title()} Library",
                    "borrowing_location": f"{lib}_BORR",
                    "lending_location": f"{lib}_LEND",
                }
                for campus, lib in self.mapping.items()
            ],
            "patron_rs_library": {
                "by": "campus_code",
                "map": self.mapping,
                "out_of_scope_groups": [OUT_OF_SCOPE_GROUP],
            },
        }

    def write_users_xml(self, path: Path) -> None:
        """The patrons as Alma's user export writes them (streamed, one user at a time)."""
        with path.open("w", encoding="utf-8") as out:
            write_users_xml(self.patrons(), self.size, out)


def write_users_xml(patrons: Iterator[Patron], total: int, out: TextIO) -> None:
    """``<users>`` of ``<user>`` records in Alma's user schema.

    UNVERIFIED(audit.users_export_xml): the export's root and record elements.
    """
    out.write('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n')
    out.write(f'<users total_record_count="{total}">\n')
    for p in patrons:
        libs = "".join(
            f'<rs_library><code desc="">{escape(c)}</code></rs_library>' for c in p.rs_libraries
        )
        out.write(
            "<user>"
            '<record_type desc="Public">PUBLIC</record_type>'
            f"<primary_id>{escape(p.primary_id)}</primary_id>"
            f'<user_group desc="">{escape(p.user_group)}</user_group>'
            f'<campus_code desc="">{escape(p.campus_code)}</campus_code>'
            f'<status desc="">{p.status}</status>'
            f"<rs_libraries>{libs}</rs_libraries>"
            "</user>\n"
        )
    out.write("</users>\n")
