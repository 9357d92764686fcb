"""The cassette modes, defined once; a module of its own so `harness --help` can list them cheaply."""

from __future__ import annotations

from enum import Enum


class CassetteMode(str, Enum):
    """How a run uses its recordings; the one definition every front door and layer shares.

    A ``str`` enum, so a mode compares equal to its spelling on the command line and in run.json.
    """

    REPLAY = "replay"  # the default everywhere: never touch the network
    RECORD_MISSING = "record-missing"  # record only what is missing or stale
    RECORD = "record"  # re-record everything run
    OFF = "off"  # live, no cassettes

    @property
    def sends(self) -> bool:
        """Whether a run in this mode may send requests to a server."""
        return self is not CassetteMode.REPLAY

    def __str__(self) -> str:
        return self.value


CASSETTE_MODES = tuple(mode.value for mode in CassetteMode)
