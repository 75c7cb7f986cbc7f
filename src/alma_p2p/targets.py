"""Where the partners' requests go: a refreshed sandbox must not reach production.

A premium sandbox is a copy of production, partner records included, so after a refresh its
partners may still send to the production servers of the consortium. Before the first write
of a run, every partner the profile names (any of them may be on a created request's rota,
and a lending request answers its borrowing partner) is read from Alma and the server its
requests go to is compared with the profile's allowed targets (``institution.partner_targets``,
shell-style patterns). The server is ``profile_details.<protocol>_details.ill_server``:
captured for ISO partners (captures/partner_iso_ladd_active.json), documented in the XSD for
ISO 18626 and NCIP P2P (alma-api.md §5). UNVERIFIED(partner.sandbox_host_pattern): a sandbox
target is recognised by its host alone (``*-psb.*``, Ex Libris' post-refresh procedure).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from alma_p2p.alma import AlmaClient
from alma_p2p.alma.models import Partner, ProfileDetails
from alma_p2p.alma.parsing import page
from alma_p2p.profile import Profile

# The protocol sub-objects that carry a server, in the order they are looked for.
PROTOCOLS = ("iso_details", "iso_18626_details", "ncip_p2p_details")
WHERE = "Fulfillment > Resource Sharing > Partners > {partner} > Parameters (Server)"


@dataclass(frozen=True)
class Target:
    """Where one partner's requests go, as Alma's partner record says."""

    partner: str
    field: str  # the path of the field read, e.g. profile_details.iso_details.ill_server
    host: str | None  # None: the record shows no server
    allowed: bool
    missing: bool = False  # the profile names the partner; Alma has no such partner

    def describe(self) -> str:
        if self.missing:
            return f"{self.partner}: not a partner in Alma, so no request can reach it"
        return f"{self.partner}: {self.field}={self.host or 'none'}"


def _server(details: ProfileDetails) -> tuple[str, str | None]:
    for name in PROTOCOLS:
        sub = getattr(details, name)
        if sub is not None:
            return f"profile_details.{name}.ill_server", (sub.ill_server or "").strip() or None
    kind = details.profile_type or "unknown"
    return f"profile_details ({kind}, no {' / '.join(PROTOCOLS)})", None


def allowed(host: str, patterns: list[str]) -> bool:
    """Whether ``host`` matches one of the profile's patterns (case-insensitive)."""
    name = host.lower().split("://", 1)[-1].split("/", 1)[0]
    return any(fnmatch.fnmatchcase(name, p.lower()) for p in patterns)


def targets(profile: Profile, partners: dict[str, Partner]) -> list[Target]:
    """Each of the profile's partners and where its requests go."""
    found = []
    for expected in profile.partners:
        partner = partners.get(expected.code)
        if partner is None:
            found.append(Target(expected.code, "", None, True, missing=True))
            continue
        field, host = _server(partner.partner_details.profile_details)
        ok = host is not None and allowed(host, profile.institution.partner_targets)
        found.append(Target(expected.code, field, host, ok))
    return found


def refusals(profile: Profile, found: list[Target]) -> list[str]:
    """One line per partner whose requests may leave the sandbox, naming it and the field."""
    patterns = ", ".join(profile.institution.partner_targets)
    lines = []
    for t in found:
        if t.allowed:
            continue
        fix = WHERE.format(partner=t.partner)
        if t.host is None:
            lines.append(
                f"partner {t.partner} shows no server in {t.field}, so where its requests go "
                f"cannot be told; set its server to a sandbox host ({fix})"
            )
        else:
            lines.append(
                f"partner {t.partner} sends to {t.host} ({t.field}), which is not among the "
                f"profile's allowed targets ({patterns}, institution.partner_targets in "
                f"{profile.name}/profile.yaml); point it at the partner's sandbox ({fix}), "
                "keeping its symbol"
            )
    return lines


def read_partners(alma: AlmaClient) -> dict[str, Partner]:
    """All the institution's partners, page by page, asked of Alma afresh: whichever
    scenario writes first, its cassette holds what it was checked against (a consortium
    may have hundreds of partners; one beyond the first page is still checked)."""
    path, found, offset = "/partners", {}, 0
    while True:
        data = alma.get_json(path, {"limit": 100, "offset": offset}, cache=False)
        batch = page(Partner, path, data, "partner")
        found.update({p.code: p for p in batch.records})
        offset += 100
        if not batch.records or offset >= batch.total_record_count:
            return found
