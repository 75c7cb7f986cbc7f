"""Facts about Alma's API gateway, written once: regions, API areas, and the areas' self-tests.

The client reports from them, preflight probes with them, and the stand-in enforces them.
Sources: alma-api.md §1.1 (regions), §1.2 (API areas of a key; each area's ``test``
endpoint, where GET checks read access and POST checks write access).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from alma_p2p.alma.errors import AlmaConfigError

PREFIX = "/almaws/v1"

REGION_HOSTS: Mapping[str, str] = {
    "na": "api-na.hosted.exlibrisgroup.com",
    "eu": "api-eu.hosted.exlibrisgroup.com",
    "ap": "api-ap.hosted.exlibrisgroup.com",
    "aps": "api-aps.hosted.exlibrisgroup.com",
    "ca": "api-ca.hosted.exlibrisgroup.com",
    "cn": "api-cn.hosted.exlibrisgroup.com.cn",
}

# Alma API areas a key is granted, by the first segment of the path after /almaws/v1.
API_AREAS: Mapping[str, str] = {
    "users": "Users",
    "conf": "Configuration",
    "partners": "Resource Sharing Partners",
    "task-lists": "Task-lists",
    "bibs": "Bibs",
    "items": "Bibs",
    "analytics": "Analytics",
}


@dataclass(frozen=True)
class Probe:
    """An API area and the cheap call that shows whether a key may use it."""

    area: str
    path: str


# The read probes every live run sends (Configuration answers with the institution itself).
READ_PROBES = (
    Probe("Configuration", "/conf/general"),
    Probe("Users", "/users/operation/test"),
    Probe("Resource Sharing Partners", "/partners/operation/test"),
    Probe("Task-lists", "/task-lists/test"),
)
ANALYTICS_PROBE = Probe("Analytics", "/analytics/test")

# Where @writes scenarios of each kind create things, and the self-test that asks (by POST)
# whether the key may write there: borrowing requests live under /users, lending requests
# under /partners.
WRITE_PROBES: Mapping[str, Probe] = {
    "borrowing": Probe("Users", "/users/operation/test"),
    "lending": Probe("Resource Sharing Partners", "/partners/operation/test"),
}

# Every area's self-test path (GET: read access; POST: write access). Creates nothing.
SELF_TESTS = frozenset(
    {
        "/conf/test",
        "/users/operation/test",
        "/partners/operation/test",
        "/task-lists/test",
        "/analytics/test",
    }
)

SAFE_METHODS = frozenset({"GET", "HEAD"})


def build_base_url(region: str | None = None, base_url: str | None = None) -> str:
    """The gateway URL: an explicit ``base_url`` wins over a region."""
    if base_url:
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise AlmaConfigError(
                f"ALMA_BASE_URL {base_url!r} is not an http(s) URL; expected e.g. "
                "https://api-na.hosted.exlibrisgroup.com/almaws/v1"
            )
        url = base_url.rstrip("/")
        return url if url.endswith(PREFIX) else url + PREFIX
    if region is None:
        raise AlmaConfigError("no Alma region and no ALMA_BASE_URL: set one of them")
    host = REGION_HOSTS.get(region.lower())
    if host is None:
        allowed = ", ".join(REGION_HOSTS)
        raise AlmaConfigError(f"unknown Alma region {region!r}; allowed: {allowed}")
    return f"https://{host}{PREFIX}"


def api_area(path: str) -> str | None:
    """The Alma API area a path below the gateway belongs to (``/users/x`` → ``Users``)."""
    first = path.lstrip("/").split("/", 1)[0]
    return API_AREAS.get(first)


def is_write(method: str) -> bool:
    """Whether Alma counts a call with this method as a write for the key's permissions."""
    return method.upper() not in SAFE_METHODS
