"""The progress line: patrons done, rate, calls left today, time to finish.

On a terminal it is one line rewritten in place (at most twice a second); anywhere else
(a CI log, a file) a plain line at every tenth of the work, so a log stays short.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, out: TextIO | None = None, *, tty: bool | None = None) -> None:
        self.out = out or sys.stderr
        if tty is None:
            tty = self.out.isatty() and not os.environ.get("CI")
        self.tty = tty
        self._started = time.monotonic()
        self._shown = 0.0
        self._tenth = -1

    def update(
        self, done: int, total: int | None, calls: int, left: int | None, *, final: bool = False
    ) -> None:
        now = time.monotonic()
        elapsed = max(now - self._started, 1e-9)
        tenth = int(10 * done / total) if total else 0
        if self.tty and not final and now - self._shown < 0.5:
            return
        if not self.tty and not final and tenth == self._tenth:
            return
        self._shown, self._tenth = now, tenth
        rate = calls / elapsed
        of = f"/{total:,}" if total is not None else ""
        parts = [f"{done:,}{of} users", f"{rate:.1f} calls/s"]
        parts.append(f"{left:,} calls left today" if left is not None else "calls left: unknown")
        if total and done and not final:
            eta = (total - done) * elapsed / done
            parts.append(f"about {_duration(eta)} to go")
        line = "audit: " + ", ".join(parts)
        if self.tty:
            self.out.write("\r" + line.ljust(78) + ("\n" if final else ""))
        else:
            self.out.write(line + "\n")
        self.out.flush()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
