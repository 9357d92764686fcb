"""Progress on long runs: a live line on a terminal, periodic plain lines otherwise.

The line shows the queue as it moves: cases done of total, requests in flight
(and the adaptive cap when 429s have pushed it down), retries, failures,
errors, tokens, cost and an ETA. Nothing from a request or reply is shown, so
nothing secret can leak through it.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from harness.core.case_file import CaseHead
from harness.core.errors import RequestFailed
from harness.core.result import ERROR, FAILED, CaseResult
from harness.core.text_policy import printable
from harness.execution.runner import RunObserver


class Progress(RunObserver):
    """Redraws at most ~10 times a second on a terminal, or prints a line every ``interval`` seconds."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True, interval: float = 5.0,
                 concurrency: int | None = None, live: bool | None = None):  # fmt: skip
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0
        self.live = self.enabled and (live if live is not None else _isatty(self.stream))
        self.interval = interval
        self.concurrency = concurrency
        self.done = self.failed = self.errored = self.retries = self.rate_limited = self.tokens = 0
        self.cost = 0.0
        self.priced = False
        self.in_flight = self.waiting = 0
        self.limit = concurrency
        self.batch: str | None = None  # --batch: the round's batches while they are polled
        self.started = time.monotonic()
        self._last = float("-inf")  # the first event always shows
        self._closed = False

    def retry(self, attempt: int = 1, error: RequestFailed | None = None, wait: float = 0.0) -> None:
        self.retries += 1
        if error is not None and error.status == 429:
            self.rate_limited += 1

    def case_done(self, case: CaseResult | CaseHead) -> None:
        self.done += 1
        self.failed += case.status == FAILED
        self.errored += case.status == ERROR
        self.tokens += case.usage.total_tokens or 0
        if case.cost_usd is not None:
            self.cost += case.cost_usd
            self.priced = True
        self._maybe_draw(force=self.done == self.total)

    def stopped_sending(self, reason: str) -> None:
        """An error the user must see now, even with -q: above the live line, once."""
        if self.live and not self._closed:
            self.stream.write("\r\033[K")
        print(f"error: {printable(reason)}", file=self.stream, flush=True)
        self._last = float("-inf")  # redraw the line below it

    def batch_status(self, text: str) -> None:
        self.batch = text
        self._maybe_draw()

    def tick(self, in_flight: int, limit: int, waiting: int) -> None:
        self.in_flight, self.limit, self.waiting = in_flight, limit, waiting
        self._maybe_draw()

    def _maybe_draw(self, force: bool = False) -> None:
        if not self.enabled or self._closed:
            return
        now = time.monotonic()
        if self.live and (force or now - self._last >= 0.1):
            self._last = now
            self.stream.write("\r\033[K" + self.line())
            self.stream.flush()
        elif not self.live and (force or now - self._last >= self.interval):
            self._last = now
            print(self.line(), file=self.stream, flush=True)

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        parts = [f"[{self.done}/{self.total}]"]
        if self.done < self.total and self.batch is not None:
            parts.append(self.batch)
        elif self.done < self.total:
            flight = f"{self.in_flight} in flight"
            if self.limit is not None and self.concurrency is not None and self.limit < self.concurrency:
                flight += f" (limit {self.limit}/{self.concurrency} after 429s)"
            parts.append(flight)
        parts.append(f"{self.failed} failed, {self.errored} error{'' if self.errored == 1 else 's'}")
        if self.retries:
            parts.append(f"{self.retries} {'retry' if self.retries == 1 else 'retries'}")
        parts.append(f"{self.tokens:,} tokens")
        if self.priced:
            parts.append(f"${self.cost:.4f}")
        parts.append(f"{elapsed:.1f} s")
        if 0 < self.done < self.total:
            parts.append(f"ETA {elapsed / self.done * (self.total - self.done):.0f} s")
        return ", ".join(parts)

    def close(self) -> None:
        if self.enabled and self.live and not self._closed:
            self.stream.write("\n")
            self.stream.flush()
        self._closed = True


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
