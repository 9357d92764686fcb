"""Progress on long runs: a live line on a terminal, periodic plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from harness.results import ERROR, FAILED, CaseResult


class Progress:
    """Counts finished cases; redraws at most ~10 times a second, or logs every few seconds."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True, interval: float = 5.0):
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0
        self.live = enabled and self.stream.isatty()
        self.interval = interval
        self.done = self.failed = self.errored = self.retries = self.tokens = 0
        self.started = time.monotonic()
        self._last = 0.0

    def retry(self) -> None:
        self.retries += 1

    def case_done(self, case: CaseResult) -> None:
        self.done += 1
        self.failed += case.status == FAILED
        self.errored += case.status == ERROR
        self.tokens += case.usage.total_tokens or 0
        now = time.monotonic()
        if not self.enabled:
            return
        if self.live and (now - self._last >= 0.1 or self.done == self.total):
            self._last = now
            self.stream.write("\r\033[K" + self.line())
            self.stream.flush()
        elif not self.live and (now - self._last >= self.interval or self.done == self.total):
            self._last = now
            print(self.line(), file=self.stream, flush=True)

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        eta = ""
        if 0 < self.done < self.total:
            eta = f", ETA {elapsed / self.done * (self.total - self.done):.0f} s"
        extra = f", {self.retries} retries" if self.retries else ""
        return (f"[{self.done}/{self.total}] {self.failed} failed, {self.errored} errors{extra}, "
                f"{self.tokens:,} tokens, {elapsed:.1f} s{eta}")  # fmt: skip

    def close(self) -> None:
        if self.enabled and self.live:
            self.stream.write("\n")
            self.stream.flush()
