"""The runs under a reports folder, for `harness view`: where each is, when it ran, and its headline figures."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.result import ResultFileError, RunResult, load_run

MAX_DEPTH = 3  # reports/<run>/results.json, reports/<branch>/<run>/results.json, one more level


@dataclass
class RunEntry:
    """One results.json under the root: its folder (relative, '/'-separated) and summary figures."""

    path: str
    started_at: str
    suites: list[str]
    variants: list[str] = field(default_factory=list)
    passed: int = 0
    total: int = 0
    tokens: int = 0
    cost_usd: float | None = None
    error: str | None = None  # why the file could not be read

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.total if self.total else None


def find_runs(root: Path) -> list[RunEntry]:
    """Every readable run under ``root`` (hidden folders skipped), newest first."""
    entries: list[RunEntry] = []
    for results in sorted(_results_files(root, 0)):
        rel = results.parent.relative_to(root).as_posix() or "."
        try:
            data = json.loads(results.read_text(encoding="utf-8"))
            summary = data.get("summary") or {}
            cases = data.get("cases") or []
            entries.append(RunEntry(
                path=rel, started_at=str(data.get("started_at") or ""),
                suites=list(dict.fromkeys(str(c.get("suite")) for c in cases)),
                variants=list(dict.fromkeys(str(c["variant"]) for c in cases if c.get("variant"))),
                passed=int(summary.get("passed") or 0), total=int(summary.get("total") or 0),
                tokens=int(summary.get("total_tokens") or 0), cost_usd=summary.get("cost_usd"),
            ))  # fmt: skip
        except (OSError, ValueError, TypeError, AttributeError) as e:
            entries.append(RunEntry(rel, "", [], error=f"cannot read results.json: {e}"))
    return sorted(entries, key=lambda e: e.started_at, reverse=True)


def _results_files(folder: Path, depth: int) -> list[Path]:
    found = []
    if (folder / "results.json").is_file():
        found.append(folder / "results.json")
    if depth >= MAX_DEPTH:
        return found
    try:
        children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return found
    for child in children:
        if child.is_symlink():
            continue  # never follow a link out of the folder being served
        found += _results_files(child, depth + 1)
    return found


def load_listed_run(root: Path, rel: str) -> RunResult:
    """A run listed by ``find_runs``, by its relative folder; ResultFileError unless it is one of them."""
    listed = {e.path for e in find_runs(root) if e.error is None}
    if rel not in listed:
        raise ResultFileError(f"no run {rel!r} in {root}")
    return load_run(root / rel / "results.json")
