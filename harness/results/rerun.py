"""`harness run --rerun failed --from DIR`: which cases of an earlier run to run again, and whether that is safe.

Pure data: the earlier run's results.json says how each case ended (over all
its repeats) and carries a fingerprint of every suite it ran (the suite file
and every file it reads). A re-run sends requests only for the chosen cases;
every other case keeps its earlier result, so the new results.json is a
complete run of the suites. That only holds if the suites are the ones that
run used, so a changed fingerprint refuses the re-run.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from harness.core.outcomes import light, outcomes
from harness.core.result import ERROR, FAILED, CaseResult, RunResult

RERUN_STATUSES = {"failed": FAILED, "errored": ERROR}  # as typed -> a case outcome's status


class RerunError(Exception):
    """A re-run that cannot be done as asked; the message says why and what to do instead."""


def parse_statuses(text: str) -> list[str]:
    """`failed`, `errored` or `failed,errored` (any order) as their words; raise RerunError otherwise."""
    words = [w.strip() for w in text.split(",") if w.strip()]
    unknown = [w for w in words if w not in RERUN_STATUSES]
    if not words or unknown:
        raise RerunError(f"--rerun takes failed, errored or failed,errored, got {text!r}")
    return sorted(set(words), key=list(RERUN_STATUSES).index)


def rerun_command(from_dir: str, statuses: list[str]) -> str:
    """The command that re-runs a run's cases with those statuses, to paste as printed."""
    return f"harness run --rerun {','.join(statuses)} --from {shlex.quote(from_dir)}"


def full_run_command(settings: dict[str, Any]) -> str:
    """The command that runs an earlier run's suites again in full, as it was sent (its cassette mode and
    server); a run's other flags (--model, --case, …) are the user's to add back."""
    words = ["harness", "run", *(settings.get("paths") or ["PATH"])]
    if (mode := settings.get("cassettes")) and mode != "replay":
        words += ["--cassettes", str(mode)]
    if settings.get("base_url"):
        words += ["--base-url", str(settings["base_url"])]
    return " ".join(shlex.quote(w) for w in words)


def statuses_to_rerun(run: RunResult) -> list[str]:
    """The `--rerun` words for the failed and errored cases of ``run`` that fail it (empty: none); failures that
    `allow_fail` or a suite's `min_pass_rate` tolerate do not call for a re-run (though `--rerun failed` takes them).

    A case that errored only for want of a recording (a stale or missing cassette) is not counted: a re-run
    takes the run's cassette mode and would replay the same cassettes; the re-record command is what fixes it."""
    to_record = {(c.suite, c.id, c.variant) for c in light(run.cases) if c.recording is not None}
    found = {o.status for o in outcomes(run.cases)
             if not o.tolerated and not (o.status == ERROR and (o.suite, o.id, o.variant) in to_record)}  # fmt: skip
    return [word for word, status in RERUN_STATUSES.items() if status in found]


@dataclass
class Rerun:
    """The earlier run, what to run again from it, and where it came from (for results and messages)."""

    earlier: RunResult
    statuses: list[str]
    source: str  # --from as given

    def changed_suites(self, current: dict[str, tuple[str, str]]) -> list[str]:
        """A line per suite that differs from the earlier run's; ``current`` maps name -> (fingerprint, file)."""
        if not self.earlier.fingerprints:
            raise RerunError(f"{self.source} has no suite fingerprints (it was written by `pytest` or an older "
                             "harness), so whether the suites changed since cannot be told; run the suites in full")  # fmt: skip
        lines = []
        for name, (digest, file) in current.items():
            before = self.earlier.fingerprints.get(name)
            if before is None:
                lines.append(f"suite {name!r} ({file}) was not in that run")
            elif before != digest:
                lines.append(f"suite {name!r} ({file}), or a prompt or data file it reads, changed")
        lines += [f"suite {name!r} was in that run but is not any more" for name in self.earlier.fingerprints
                  if name not in current]  # fmt: skip
        return lines

    def chosen(self) -> set[tuple[str, str]]:
        """(suite, case label) of every case whose outcome over its repeats has one of the statuses; a case of a
        suite with variants is chosen per variant (its label is `id [variant]`)."""
        wanted = {RERUN_STATUSES[word] for word in self.statuses}
        return {o.key for o in outcomes(self.earlier.cases) if o.status in wanted}

    def kept(self, chosen: set[tuple[str, str]]) -> dict[tuple[str, str, int], CaseResult]:
        """The earlier results that stay as they are: every repeat of every case not chosen."""
        return {c.key: c for c in self.earlier.cases if (c.suite, c.label) not in chosen}

    def describe(self, count: int) -> dict[str, object]:
        """What results.json records about the re-run."""
        return {"statuses": self.statuses, "from": self.source, "cases": count,
                "command": rerun_command(self.source, self.statuses)}  # fmt: skip
