"""What changed inside one case between base and head: word diffs, the request, the replies, the checks.

Pure data, no verdicts: ``harness.results.compare`` decides what the changes
mean for the gate, and ``harness.report`` lays them out.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from harness.core.result import CaseResult, CheckResult, TurnResult
from harness.results.transcript import Entry, reply_text

EQUAL, DELETE, INSERT = "=", "-", "+"
Op = tuple[str, str]  # (EQUAL | DELETE | INSERT, text)

_WORDS = re.compile(r"\s*\w+|\s*[^\w\s]|\s+", re.UNICODE)  # a word or a mark, with the spaces before it
_MAX_DIFF_TOKENS = 5_000  # beyond this (after the common ends) a word diff is too slow to be worth it


def word_diff(before: str, after: str) -> list[Op]:
    """A word-level diff (whitespace and punctuation are tokens too); adjacent ops merged."""
    return list(_word_diff(before, after))


def common_ends(a: Sequence[Any], b: Sequence[Any]) -> tuple[int, int]:
    """How many items two sequences share at the start, then at the end (not overlapping the start)."""
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(a), len(b)) - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    return prefix, suffix


@lru_cache(maxsize=512)  # a system prompt edit repeats in every case of a suite
def _word_diff(before: str, after: str) -> tuple[Op, ...]:
    if before == after:
        return ((EQUAL, before),) if before else ()
    a, b = _WORDS.findall(before), _WORDS.findall(after)
    prefix, suffix = common_ends(a, b)
    ops: list[Op] = []

    def add(kind: str, text: str) -> None:
        if not text:
            return
        if ops and ops[-1][0] == kind:
            ops[-1] = (kind, ops[-1][1] + text)
        else:
            ops.append((kind, text))

    add(EQUAL, "".join(a[:prefix]))
    a_mid, b_mid = a[prefix : len(a) - suffix], b[prefix : len(b) - suffix]
    if len(a_mid) > _MAX_DIFF_TOKENS or len(b_mid) > _MAX_DIFF_TOKENS:
        add(DELETE, "".join(a_mid))
        add(INSERT, "".join(b_mid))
    else:
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a_mid, b_mid, autojunk=False).get_opcodes():
            if tag == "equal":
                add(EQUAL, "".join(a_mid[i1:i2]))
            else:
                add(DELETE, "".join(a_mid[i1:i2]))
                add(INSERT, "".join(b_mid[j1:j2]))
    add(EQUAL, "".join(a[len(a) - suffix :]))
    return tuple(ops)


@dataclass
class CheckFlip:
    """A check whose outcome differs; None means the check is absent on that side."""

    turn: int
    name: str
    before: bool | None
    after: bool | None
    base_reason: str | None
    head_reason: str | None
    edited: str | None = None  # the check itself was changed: "expected 'a' -> 'b'" (None: the same check)

    @property
    def broke(self) -> bool:
        return self.after is False

    @property
    def reason(self) -> str:
        """The reason that explains the head's outcome (the base's when the check was removed)."""
        return self.head_reason if self.head_reason is not None else (self.base_reason or "")

    @property
    def explained(self) -> str:
        """The reason, and that the check itself was edited when it was: how a line of text shows the flip."""
        return self.reason + (f" (check edited: {self.edited})" if self.edited else "")


@dataclass
class TextChange:
    """One authored message (or the system prompt) that was added, removed or edited."""

    label: str
    kind: str  # "changed", "added" or "removed"
    ops: list[Op]
    files: list[str] = field(default_factory=list)  # the prompt files the text comes from (`{file: ...}`)

    @property
    def before(self) -> str:
        return "".join(text for kind, text in self.ops if kind != INSERT)

    @property
    def after(self) -> str:
        return "".join(text for kind, text in self.ops if kind != DELETE)


@dataclass
class ParamChange:
    key: str
    before: Any
    after: Any
    added: bool = False
    removed: bool = False


@dataclass
class ReplyDiff:
    """A turn's reply in base and head; the word diff is computed only when asked for.

    ``not_run``: head never got this turn's reply (an earlier or this turn errored), so
    the base reply is shown as it was, not as deleted.
    """

    turn: int
    changed: bool
    before: str
    after: str
    base_finish: str | None
    head_finish: str | None
    not_run: bool = False

    @property
    def ops(self) -> list[Op]:
        return word_diff(self.before, self.after)


def ran(turn: TurnResult) -> bool:
    """Whether the turn was evaluated: it got its reply and no error stopped it."""
    return turn.reply is not None and turn.error is None


def turn_ranges(turns: list[int]) -> str:
    """'turn 3', 'turns 2-3', 'turns 2-3, 5'."""
    spans: list[list[int]] = []
    for t in sorted(turns):
        if spans and t == spans[-1][1] + 1:
            spans[-1][1] = t
        else:
            spans.append([t, t])
    text = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)
    return ("turns " if len(turns) > 1 else "turn ") + text


def _checks_by_key(case: CaseResult) -> dict[tuple[int, str, int], CheckResult]:
    out: dict[tuple[int, str, int], CheckResult] = {}
    for t in case.turns:
        seen: Counter[str] = Counter()
        for c in t.checks:
            out[(t.index, c.name, seen[c.name])] = c
            seen[c.name] += 1
    return out


def check_flips(base: CaseResult, head: CaseResult) -> list[CheckFlip]:
    """Checks whose outcome changed, or that exist on one side of a turn both sides evaluated."""
    b, h = _checks_by_key(base), _checks_by_key(head)
    evaluated_b = {t.index for t in base.turns if t.reply is not None}
    evaluated_h = {t.index for t in head.turns if t.reply is not None}
    flips = []
    for key in list(b) + [k for k in h if k not in b]:
        turn, name, _ = key
        cb, ch = b.get(key), h.get(key)
        before = cb.passed if cb else None
        after = ch.passed if ch else None
        if before == after:
            continue
        if (cb is None or ch is None) and not (turn in evaluated_b and turn in evaluated_h):
            continue  # absent because the turn never ran on one side: the error says why
        edited = (f"expected {_shown_value(cb.expected)} -> {_shown_value(ch.expected)}"
                  if cb is not None and ch is not None and cb.expected != ch.expected else None)  # fmt: skip
        flips.append(CheckFlip(turn, name, before, after, cb.reason if cb else None, ch.reason if ch else None,
                               edited))  # fmt: skip
    flips.sort(key=lambda f: (f.turn, f.after is not False))
    return flips


def _shown_value(value: Any, limit: int = 80) -> str:
    """A check's expected value in a line of text: JSON-ish, cut in the middle when long."""
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[: limit // 2 - 1]}\u2026{text[-(limit // 2 - 1):]}"


def _entry_label(e: Entry) -> str:
    if e.kind == "system":
        return "system prompt"
    if e.kind == "history":
        return f"history ({e.role})"
    return f"turn {e.turn} {e.role}" + (f" {e.name}" if e.role == "tool" and e.name else "")


def _slots(entries: list[Entry]) -> list[str | None]:
    """Each entry's message slot, as cases name their prompt files: "system", "messages[0]", "turn 1"."""
    slots: list[str | None] = []
    history = 0
    for e in entries:
        if e.kind == "system":
            slots.append("system")
        elif e.kind == "history":
            slots.append(f"messages[{history}]")
            history += 1
        else:
            slots.append(f"turn {e.turn}" if e.role == "user" else None)
    return slots


def prompt_changes(base: list[Entry], head: list[Entry], base_files: dict[str, list[str]] | None = None,
                   head_files: dict[str, list[str]] | None = None) -> list[TextChange]:  # fmt: skip
    """Authored messages added, removed or edited, aligned by their place in the conversation.

    Each change names the prompt files its text came from (head's, or base's for a removed message).
    """
    a = [_entry_label(e) for e in base]
    b = [_entry_label(e) for e in head]
    slots_a, slots_b = _slots(base), _slots(head)

    def files(side: dict[str, list[str]] | None, slot: str | None) -> list[str]:
        return list((side or {}).get(slot or "", []))

    changes: list[TextChange] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        pairs = list(zip(range(i1, i2), range(j1, j2)))
        for i, j in pairs:
            if base[i].text != head[j].text:
                named = files(head_files, slots_b[j]) or files(base_files, slots_a[i])
                changes.append(TextChange(b[j], "changed", word_diff(base[i].text, head[j].text), named))
        for i in range(i1 + len(pairs), i2):
            changes.append(TextChange(a[i], "removed", [(DELETE, base[i].text)], files(base_files, slots_a[i])))
        for j in range(j1 + len(pairs), j2):
            changes.append(TextChange(b[j], "added", [(INSERT, head[j].text)], files(head_files, slots_b[j])))
    return changes


def param_changes(base: dict[str, Any], head: dict[str, Any]) -> list[ParamChange]:
    changes = []
    for key in list(base) + [k for k in head if k not in base]:
        if key not in head:
            changes.append(ParamChange(key, base[key], None, removed=True))
        elif key not in base:
            changes.append(ParamChange(key, None, head[key], added=True))
        elif _canonical(base[key]) != _canonical(head[key]):
            changes.append(ParamChange(key, base[key], head[key]))
    return changes


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def reply_diffs(base: CaseResult, head: CaseResult, head_stopped: bool = False) -> list[ReplyDiff]:
    """A word diff of every turn's reply, aligned by turn index.

    With ``head_stopped`` (head could not run every turn), a turn head did not
    evaluate is "not run": base's reply stays as it was, nothing is deleted.
    """
    b = {t.index: t.reply for t in base.turns}
    h = {t.index: t for t in head.turns}
    out = []
    for turn in sorted(set(b) | set(h)):
        rb, th = b.get(turn), h.get(turn)
        rh = th.reply if th is not None else None
        if rb is None and rh is None:
            continue
        fb, fh = (rb.finish_reason if rb else None), (rh.finish_reason if rh else None)
        if head_stopped and (th is None or not ran(th)):
            out.append(ReplyDiff(turn, False, reply_text(rb), reply_text(rh), fb, fh, not_run=True))
            continue
        tb, text_h = reply_text(rb), reply_text(rh)
        out.append(ReplyDiff(turn, tb != text_h or fb != fh, tb, text_h, fb, fh))
    return out


# --- what can be compared when head could not run every turn ---------------------------------


def compared_turns(base: CaseResult | None, head: CaseResult | None) -> set[int]:
    """The turns both sides evaluated (all of a side's turns when the other side is absent)."""
    if head is None:
        return {t.index for t in base.turns} if base else set()
    evaluated = {t.index for t in head.turns if ran(t)}
    return evaluated if base is None else evaluated & {t.index for t in base.turns if ran(t)}


def not_run_text(base: CaseResult | None, head: CaseResult) -> str:
    """'turn 1 errored; turns 2-3 not run' (the later turns are the base's: head never got to them)."""
    errored = next((t.index for t in head.turns if t.error or t.reply is None), None)
    if errored is None:
        return "the case errored before its first turn"
    later = sorted({t.index for t in base.turns} - {t.index for t in head.turns if ran(t)} - {errored}) if base else []
    later = [t for t in later if t > errored]
    return f"turn {errored} errored" + (f"; {turn_ranges(later)} not run" if later else "")


def _selected(case: CaseResult, turns: set[int] | None) -> list[Any]:
    return [t for t in case.turns if turns is None or t.index in turns]


def turn_tokens(case: CaseResult | None, turns: set[int] | None = None) -> float | None:
    if case is None or (turns is not None and not turns):
        return None
    if turns is None:
        return case.usage.total_tokens
    return sum(t.usage.total_tokens or 0 for t in _selected(case, turns))


def turn_cost(case: CaseResult | None, turns: set[int] | None = None) -> float | None:
    if case is None or (turns is not None and not turns):
        return None
    if turns is None:
        return case.cost_usd
    costs = [t.cost_usd for t in _selected(case, turns) if t.cost_usd is not None]
    return sum(costs) if costs else None


def turn_latency(case: CaseResult | None, turns: set[int] | None = None) -> float | None:
    if case is None or (turns is not None and not turns):
        return None
    return round(sum(t.reply.latency_ms for t in _selected(case, turns) if t.reply is not None), 1)


def unrun_share(cases: list[CaseResult | None], heads: list[CaseResult]) -> tuple[int, float]:
    """Tokens and cost of the turns each head case did not run, counted in ``cases`` (base's or head's own)."""
    tokens, cost = 0, 0.0
    for case, h in zip(cases, heads):
        if case is None:
            continue
        evaluated = {t.index for t in h.turns if ran(t)}
        for t in case.turns:
            if t.index not in evaluated:
                tokens += t.usage.total_tokens or 0
                cost += t.cost_usd or 0.0
    return tokens, cost
