"""One re-record command per suite, for the cases whose cassettes are stale or missing.

A run that could not replay a case says so per case; a reviewer wants the one
command that fixes the pull request. Cases are joined with one `--case` each
(and a suite's variants with one `--variant` each),
the run's flags are kept, and the base URL is the run's own or, for a replay
(which has none), the one every cassette involved was recorded from. A case on a
suite's named endpoint needs none: the suite names its server.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness.core.outcomes import light
from harness.core.rerecord import rerecord_command
from harness.core.result import CaseResult


@dataclass
class SuiteRerecord:
    """The command for one suite file, and a note when it cannot be complete by itself."""

    file: str
    cases: list[str]
    base_url: str | None
    command: str
    note: str = ""


def rerecord_commands(cases: Iterable[CaseResult], settings: dict[str, Any]) -> list[SuiteRerecord]:
    """Group the cases that need re-recording by suite file, in the order they ran."""
    by_file: dict[str, list[CaseResult]] = {}
    for case in light(cases):  # a run read back from disk: the heads carry `recording`
        if case.recording is not None:
            by_file.setdefault(case.file or case.suite, []).append(case)
    out = []
    for file, group in by_file.items():
        ids = list(dict.fromkeys(c.id for c in group))
        variants = [v for v in dict.fromkeys(c.variant for c in group) if v]
        recorded = sorted({str(c.recording["base_url"]) for c in group if (c.recording or {}).get("base_url")})
        base_url = settings.get("base_url") or (recorded[0] if len(recorded) == 1 else None)
        own_server = any(not (c.recording or {}).get("endpoint") for c in group)  # not all on named `endpoints:`
        note = ""
        if base_url is None and own_server:
            note = (f"the cassettes were recorded from different servers ({', '.join(recorded)}); add --base-url URL"
                    if recorded else "it records from api.openai.com with $OPENAI_API_KEY; add --base-url URL "
                    "for another server")  # fmt: skip
        command = rerecord_command(file, ids, variants=variants, model=settings.get("model"), api=settings.get("api"),
                                   repeat=settings.get("repeat"), cassette_dir=settings.get("cassette_dir") or "cassettes",
                                   base_url=base_url)  # fmt: skip
        out.append(SuiteRerecord(file, ids, base_url, command, note))
    return out
