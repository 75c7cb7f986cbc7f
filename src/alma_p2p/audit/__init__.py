"""``alma-p2p audit-patrons``: every patron's resource sharing library against the profile.

One job per module: ``rules`` (pure: the finding for one patron), ``source`` (patrons from
Alma's pages or from a users XML export, streamed), ``checkpoint`` (what a live audit has
done, written atomically after every page), ``run`` (the live audit: a pool of workers on
one paced client, within the per-second limit and the day's allowance; the file audit),
``output`` (the CSV of findings, the summary, the fix and the readiness row), ``progress``
(the progress line) and ``cli`` (the command's arguments).
"""

from alma_p2p.audit.rules import FINDINGS, Finding, Patron, Rules

__all__ = ["FINDINGS", "Finding", "Patron", "Rules"]
