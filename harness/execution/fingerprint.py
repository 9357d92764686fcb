"""Fingerprints of planned cases, so `--resume` can tell that the suites changed since a run started.

A resumed run keeps the results its journal holds; if a check, a prompt or a
model was edited in between, those results were judged by the old suite and
the rest would be judged by the new one, in one results.json. run.json stores
one fingerprint per planned case; on resume the cases are planned again and
compared, and a difference is refused (or, with --rerun-changed, the changed
cases run again).
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, field, fields
from typing import Any

from harness.core.plan import CasePlan

Key = tuple[str, str]  # (suite, case label: the id, and the variant in brackets when there is one)


def plan_fingerprint(plan: CasePlan) -> str:
    """A short hash of everything that decides what a case sends and how it is judged.

    The rendered request (model, API, params, system prompt, fixed history, each turn's user message and
    tool results), every check with its argument, weight and metric, the budgets, the pass policy and
    repeats, the context-window settings, the encoding and the grader. Not where they are in the file:
    moving a case or adding a comment changes nothing.
    """
    suite, case = plan.suite, plan.case
    data = {
        "api": plan.api,
        "endpoint": _plain(plan.endpoint),
        "grader_endpoint": _plain(plan.grader_endpoint),
        "model": plan.model,
        "params": plan.params,
        "system": plan.system,
        "history": plan.history,
        "turns": [{"user": t.user, "tool_results": t.tool_results, "fail_on_length": t.fail_on_length,
                   "budget": _limits(t.budget),
                   "checks": [[c.name, c.arg, c.weight, c.metric] for c in t.checks]} for t in plan.turns],  # fmt: skip
        "policy": plan.policy.to_dict(),
        "budgets": [_limits(case.budget), _limits(suite.budget)],
        "context": [_plain(case.context), _plain(suite.context)],
        "encoding": [case.encoding, suite.encoding],
        "grader": _plain(suite.grader),
    }
    try:
        text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=repr)
    except TypeError:  # keys of mixed types (YAML allows `1:` beside `a:`) cannot be sorted: the order written
        text = repr(data)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _limits(budget: Any) -> dict[str, Any] | None:
    return None if budget is None else dict(budget.limits)


def _plain(spec: Any) -> dict[str, Any] | None:
    """A settings dataclass as data, without where it was written (`loc`: moving it changes nothing)."""
    if spec is None:
        return None
    return {f.name: getattr(spec, f.name) for f in fields(spec) if not f.name.endswith("loc")}


def plan_fingerprints(plans: list[CasePlan]) -> list[list[str]]:
    """``[suite, case label, fingerprint]`` for each planned case (a case's label names its variant, when it
    has one), in plan order: run.json's `plans`."""
    return [[p.suite.name, p.label, plan_fingerprint(p)] for p in plans]


@dataclass
class PlanChanges:
    """How the planned cases differ from those a run started with."""

    changed: list[Key] = field(default_factory=list)
    added: list[Key] = field(default_factory=list)
    removed: list[Key] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changed or self.added or self.removed)

    @property
    def rerun(self) -> set[Key]:
        """The cases whose journaled results no longer count: changed or gone (added ones never ran)."""
        return set(self.changed) | set(self.removed)

    def describe(self) -> str:
        """`2 cases changed (s / a, s / b), 1 added (s / c)`."""
        parts = []
        for words, keys in (("changed", self.changed), ("added", self.added), ("removed", self.removed)):
            if not keys:
                continue
            shown = ", ".join(f"{suite} / {case}" for suite, case in keys[:3])
            more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
            count = str(len(keys)) if parts else f"{len(keys)} case{'' if len(keys) == 1 else 's'}"
            parts.append(f"{count} {words} ({shown}{more})")
        return ", ".join(parts)


def compare_fingerprints(saved: list[list[str]], current: list[list[str]]) -> PlanChanges:
    """What changed between the fingerprints in run.json and those of the cases planned now."""
    before = {(s, c): f for s, c, f in saved}
    now = {(s, c): f for s, c, f in current}
    return PlanChanges(changed=[k for k in now if k in before and before[k] != now[k]],
                       added=[k for k in now if k not in before],
                       removed=[k for k in before if k not in now])  # fmt: skip


class ResumeRefused(Exception):
    """The suites changed since the run started and --rerun-changed was not given; the message says what to do."""


def changes_for_resume(saved: list[list[str]], current: list[list[str]], out: str, paths: list[str],
                       rerun_changed: bool) -> PlanChanges:  # fmt: skip
    """The changes a resume of ``out`` must act on; raise ResumeRefused when it may not go on."""
    changes = compare_fingerprints(saved, current)
    if changes and not rerun_changed:
        fresh = " ".join(shlex.quote(word) for word in ["harness", "run", *paths, "--out", out])
        raise ResumeRefused(f"the suites changed since {out} was started, so its finished results would mix old "
                            f"and new checks: {changes.describe()}. To be judged by the suites as they are now, start "
                            f"a fresh run ({fresh}, or another --out), or resume with --rerun-changed to run the "
                            "changed cases again and keep the results of the unchanged ones")  # fmt: skip
    return changes
