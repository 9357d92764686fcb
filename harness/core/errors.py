"""The failure every provider raises, classified for the one retry layer."""

from __future__ import annotations

from typing import Any


class RequestFailed(Exception):
    """A request that did not produce a usable reply, classified for the retry layer.

    ``recording`` is set when replay had no recording for the request (a stale or
    missing cassette): ``{"cassette", "base_url", "problem"}``, so a comparison can say
    "needs re-record" and print the command, rather than calling the case a regression.
    """

    def __init__(self, message: str, *, retryable: bool, status: int | None = None, retry_after: float | None = None,
                 recording: dict[str, Any] | None = None, partial: Any = None):  # fmt: skip
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        self.recording = recording
        self.partial = partial  # a Completion of what a broken stream delivered, kept in results.json
