"""One factory for the client of an institution's Alma, as the settings say.

The plugin's live runs, ``alma-p2p sweep`` and ``alma-p2p calibrate`` all build their client
here, so the gateway, key, rate, timeout and retry backoff are read the same way everywhere.
"""

from __future__ import annotations

import httpx

from alma_p2p.alma import AlmaClient, build_base_url
from alma_p2p.alma.http import MAX_ATTEMPTS
from alma_p2p.profile import Profile
from alma_p2p.settings import Settings


def base_url_for(settings: Settings, profile: Profile) -> str:
    """ALMA_BASE_URL when set, else the profile's region gateway."""
    return settings.base_url or build_base_url(region=profile.institution.region)


def client_for(
    settings: Settings,
    profile: Profile,
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: float | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> AlmaClient:
    """A client for ``profile``'s Alma; ``timeout`` may only shorten the settings' own."""
    return AlmaClient(
        base_url=base_url_for(settings, profile),
        api_key=settings.api_key_for(profile.name) or "",
        rate_per_second=settings.rate,
        timeout=min(settings.timeout, timeout) if timeout else settings.timeout,
        max_attempts=max_attempts,
        backoff=settings.retry_backoff,
        transport=transport,
    )
