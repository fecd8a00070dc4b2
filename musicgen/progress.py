"""A minimal progress bar for non-Keras loops (file conversion)."""

from __future__ import annotations

import sys
import time


class Progress:
    """Redraws one line on a terminal; prints a few plain lines when piped."""

    def __init__(self, total: int, label: str, *, stream=None, enabled: bool = True):
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done = 0
        self.start = time.monotonic()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_pct = -1

    def update(self, note: str = "") -> None:
        """Mark one more item done; `note` names it."""
        self.done += 1
        if not self.enabled:
            return
        pct = int(100 * self.done / self.total)
        elapsed = time.monotonic() - self.start
        if self._tty:
            width = 30
            filled = int(width * self.done / self.total)
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(
                f"\r{self.label} [{bar}] {self.done}/{self.total} {elapsed:5.1f}s {note[:40]:<40}"
            )
            if self.done >= self.total:
                self.stream.write("\n")
        elif pct // 25 != self._last_pct // 25 or self.done >= self.total:
            # Piped output (CI, logs) gets a line per quarter instead of carriage returns.
            self.stream.write(f"{self.label}: {self.done}/{self.total} ({elapsed:.1f}s)\n")
        self._last_pct = pct
        self.stream.flush()
