"""What `harness watch` watches: the files under its paths, by polling their mtimes, and which suites a change affects.

Polling with the standard library (no inotify dependency): every ``interval`` seconds the tree
is listed and each file's (mtime, size) compared; a change is reported once the tree has been
quiet for ``debounce`` seconds, so an editor's save-as-rename-and-write is one change. A suite
is affected by a change to its own file, or to any file its text names (a prompt or data file,
a `pricing_file:`, a `python:` check's module); a changed Python file no suite names re-runs
the suites with `python:` checks, since a check module may import it.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from harness.core.suite import SKIPPED_DIRS

IGNORED_DIRS = SKIPPED_DIRS | {".venv", "venv", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
Snapshot = dict[str, tuple[int, int]]


def snapshot(roots: Iterable[Path]) -> Snapshot:
    """Every file under ``roots`` (a file root is itself) with its (mtime_ns, size); hidden and output folders skipped."""
    found: Snapshot = {}
    stack = []
    for root in roots:
        if root.is_file():
            st = root.stat()
            found[str(root)] = (st.st_mtime_ns, st.st_size)
        elif root.is_dir():
            stack.append(str(root))
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith(".") and entry.name not in IGNORED_DIRS:
                        stack.append(entry.path)
                elif entry.is_file():
                    st = entry.stat()
                    found[entry.path] = (st.st_mtime_ns, st.st_size)
            except OSError:
                continue
    return found


def changed_files(before: Snapshot, after: Snapshot) -> set[str]:
    """Files added, removed or modified between two snapshots."""
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}


class Poller:
    """Polls ``roots`` and returns the files changed since the last call, once they have been quiet for ``debounce``."""

    def __init__(self, roots: list[Path], interval: float = 0.2, debounce: float = 0.2,
                 sleep: Callable[[float], None] = time.sleep):  # fmt: skip
        self.roots, self.interval, self.debounce, self.sleep = roots, interval, debounce, sleep
        self.last = snapshot(roots)

    def wait(self) -> set[str]:
        """Block until something changed and the tree has settled; the changed paths."""
        while True:
            self.sleep(self.interval)
            now = snapshot(self.roots)
            pending = changed_files(self.last, now)
            if not pending:
                continue
            while True:  # debounce: wait until a poll sees no further change
                self.sleep(self.debounce)
                later = snapshot(self.roots)
                more = changed_files(now, later)
                now = later
                if not more:
                    break
                pending |= more
            self.last = now
            return pending


def _names(path: Path, suite_dir: Path) -> set[str]:
    """How a suite may name ``path``: its path relative to the suite's folder, its file name, and for a
    Python file its dotted module name (as `python: checks.tone:is_polite` names checks/tone.py)."""
    names = {path.name}
    try:
        rel = path.resolve().relative_to(suite_dir.resolve())
    except ValueError:
        rel = None
    if rel is not None:
        names.add(rel.as_posix())
        if path.suffix == ".py":
            names.add(".".join(rel.with_suffix("").parts))
    elif path.suffix == ".py":
        names.add(path.stem)
    return names


def affected_suites(changed: Iterable[str], suite_files: list[Path]) -> list[Path]:
    """The suite files a change to ``changed`` affects, in the order given."""
    texts: dict[Path, str] = {}
    for f in suite_files:
        try:
            texts[f] = f.read_text(encoding="utf-8", errors="replace")
        except OSError:
            texts[f] = ""
    hit: set[Path] = set()
    for raw in changed:
        path = Path(raw)
        own = [f for f in suite_files if _same(f, path)]
        if own:
            hit.update(own)
            continue
        named = [f for f in suite_files if any(_mentions(texts[f], n) for n in _names(path, f.parent))]
        if named:
            hit.update(named)
        elif path.suffix == ".py":
            hit.update(f for f in suite_files if re.search(r"[{\s-]python\s*:", texts[f]))
    return [f for f in suite_files if f in hit]


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _mentions(text: str, name: str) -> bool:
    """``name`` appears in ``text`` as a whole name (not inside a longer one)."""
    return re.search(r"(?<![\w./-])" + re.escape(name) + r"(?![\w/-])", text) is not None


def forget_modules(changed: Iterable[str]) -> None:
    """Drop changed Python files from sys.modules, so the next run imports a `python:` check's new code."""
    paths = {str(Path(p).resolve()) for p in changed if p.endswith(".py")}
    if not paths:
        return
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and str(Path(file).resolve()) in paths:
            del sys.modules[name]
