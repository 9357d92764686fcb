"""Ctrl-C and SIGTERM: stop a run cleanly so nothing already finished is lost.

The first SIGINT or SIGTERM sets a flag the runner watches: it cancels the
cases in flight, marks every unfinished case `interrupted`, and returns, so the
caller writes results.json and the reports as usual. The original handlers are
put back at once, so a second signal stops the process the ordinary way.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class StopFlag:
    """Set once, by a signal or by code; the runner stops starting and cancels running work."""

    signum: int | None = None
    event: asyncio.Event | None = field(default=None, repr=False)
    loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    @property
    def is_set(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process stopped by it (130 Ctrl-C, 143 SIGTERM)."""
        return 128 + (self.signum or signal.SIGINT)

    def set(self, signum: int = signal.SIGINT) -> None:
        """Request the stop; safe to call from a signal handler or another thread."""
        if self.signum is None:
            self.signum = signum
        if self.loop is not None and self.event is not None and not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(self.event.set)
            except RuntimeError:  # the loop closed in between: nothing waits on the event any more
                pass

    def bind(self) -> asyncio.Event:
        """The event the running loop waits on (created inside the loop)."""
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()
        if self.signum is not None:
            self.event.set()
        return self.event


@contextmanager
def stop_on_signals(flag: StopFlag) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``flag`` for the duration; a no-op off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}

    def restore() -> None:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)

    def handler(signum: int, _frame: object) -> None:
        restore()  # a second signal behaves as if we were never here
        flag.set(signum)

    for s in SIGNALS:
        signal.signal(s, handler)
    try:
        yield
    finally:
        restore()
