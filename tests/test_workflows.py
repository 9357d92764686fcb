"""The example prompt-regression workflow triggers on every file the shipped suites read (.github/workflows/)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from harness.suites.planning import load_plans

ROOT = Path(__file__).resolve().parent.parent


def _matches(pattern: str, path: str) -> bool:
    """GitHub's path filter globs: `**` crosses folders, `*` does not."""
    regex = re.escape(pattern).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
    return re.fullmatch(regex, path) is not None


def test_the_regression_workflow_runs_when_anything_a_suite_reads_changes(monkeypatch):
    monkeypatch.chdir(ROOT)
    workflow = yaml.safe_load((ROOT / ".github/workflows/prompt-regression.yml").read_text())
    paths = workflow[True]["pull_request"]["paths"]  # YAML 1.1 reads the key `on` as true
    suites, plans = load_plans(["evals/"])
    read = {str(Path(s.path)) for s in suites} | {str(f.relative_to(ROOT)) for s in suites for f in s.files}
    assert any("prompts/" in f for f in read) and any(f.endswith(".csv") for f in read)  # the example reads both
    read |= {str(p.relative_to(ROOT)) for p in (ROOT / "cassettes").rglob("*.yaml")}
    unmatched = sorted(f for f in read if not any(_matches(p, f) for p in paths))
    assert unmatched == [], f"{unmatched} can change a run but do not trigger .github/workflows/prompt-regression.yml"
    assert not any(_matches(p, "docs/suites.md") for p in paths)  # the filter still filters
