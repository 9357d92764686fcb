"""The run folder's memory: `run.json` (how the run was started) and `journal.jsonl` (what finished).

Each finished case is appended to the journal as one JSON line and flushed at
once, so a run killed at any moment keeps every case it finished.
`harness run --resume DIR` reads `run.json` for the suites and settings, skips
the cases already in the journal and runs the rest. A line torn by a crash is
the last one, and it is dropped (its case simply runs again).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from harness.core.case_file import CaseFile, CaseHead, Span, head_of
from harness.core.result import CaseResult, case_from_dict, case_json, write_json_atomic
from harness.core.text_policy import STORABLE_ERRORS

JOURNAL_FILE = "journal.jsonl"
RUN_FILE = "run.json"
RUN_FORMAT = "prompt-harness run"
RUN_VERSION = 1
BATCH_KEY = "batch"  # a journal line of a batch created (harness/execution/batch_rounds.py), not of a case
Key = tuple[str, str, int]


class RunFolderError(Exception):
    """A run folder that cannot be resumed; the message names the file and what to do."""


@dataclass(frozen=True, slots=True)
class JournalLine:
    """A finished case as the journal stores it: its line, already encoded, and its head.

    With `--workers` each worker encodes its own cases (in parallel) and the parent only writes the bytes."""

    key: Key
    data: bytes  # one JSON line, with its newline
    head: CaseHead

    def __reduce__(self) -> tuple[Any, ...]:  # as CaseHead's: its fields in order, not one at a time
        return (JournalLine, tuple(getattr(self, name) for name in _LINE_FIELDS))


_LINE_FIELDS = tuple(f.name for f in fields(JournalLine))


def journal_line(case: CaseResult, rerun: bool = False) -> JournalLine:
    """Encode a finished case for the journal; ``rerun`` marks it as a result of this re-run (`--rerun`)."""
    if rerun:
        case.rerun = True
    return JournalLine(case.key, (case_json(case) + "\n").encode("utf-8", STORABLE_ERRORS), head_of(case))


class Journal:
    """Appends finished cases, one flushed JSON line each. A failing disk is reported once, never fatal.

    It remembers where each case's line is (``index``), so results.json and the reports read the cases
    back from this file one at a time (``cases``) instead of the run keeping them all in memory; a case
    it could not write is kept in memory instead.
    """

    def __init__(self, path: Path, handle: IO[bytes], offset: int = 0):
        self.path = path
        self._handle: IO[bytes] | None = handle
        self._offset = offset
        self.written = 0
        self.failed: str | None = None
        self.rerun = False  # set by `harness run --rerun`: the cases appended from then on are marked re-run
        self.index: dict[Key, tuple[Span, CaseHead]] = {}  # this session's cases: where each one's latest line is
        self.unwritten: dict[Key, CaseResult] = {}  # cases the disk refused, so they still reach results.json

    def encode(self, case: CaseResult) -> JournalLine:
        """``case`` as this journal would write it (what a worker sends to ``append_lines``)."""
        return journal_line(case, self.rerun)

    def append(self, case: CaseResult) -> None:
        self._append([self.encode(case)], case)

    def append_lines(self, lines: list[JournalLine]) -> None:
        """Cases encoded elsewhere (by a worker): written in one go and flushed once."""
        self._append(lines)

    def _append(self, lines: list[JournalLine], case: CaseResult | None = None) -> None:
        spans = self._write_lines([line.data for line in lines])
        if spans is None:
            if self.failed:  # so they still reach results.json
                for line in lines:
                    self.unwritten[line.key] = case if case is not None else case_from_dict(json.loads(line.data))
            return
        for line, span in zip(lines, spans):
            self.index[line.key] = (span, line.head)
            self.unwritten.pop(line.key, None)
        self.written += len(lines)

    def append_batch(self, batch: dict[str, Any]) -> None:
        """An input file just uploaded (``{"uploaded": ...}``) or a batch just created (``{"created": ...}``) with
        --batch: their ids, so a resume polls the batch rather than paying for it again."""
        text = json.dumps({BATCH_KEY: batch}, ensure_ascii=False, separators=(",", ":"))
        self._write_lines([(text + "\n").encode("utf-8", STORABLE_ERRORS)])

    def _write_lines(self, lines: list[bytes]) -> list[Span] | None:
        """Append whole lines; where each went, or None when the journal cannot take them."""
        if self._handle is None:
            return None
        try:
            self._handle.write(b"".join(lines))
            self._handle.flush()
        except (OSError, ValueError) as e:
            self.failed = f"cannot append to {self.path}: {e}; results.json is still written at the end"
            print(f"warning: {self.failed}", file=sys.stderr)
            self.close()
            return None
        spans = []
        for line in lines:
            spans.append((self._offset, len(line)))
            self._offset += len(line)
        return spans

    def find(self, key: Key) -> tuple[Span, CaseHead] | CaseResult | None:
        """Where this session's case ``key`` is: its line in the journal, itself if it was not written, or None."""
        return self.index.get(key) or self.unwritten.get(key)

    def cases(self, found: list[tuple[Span, CaseHead] | CaseResult]) -> CaseFile:
        """These cases (from ``find``, or held ones) in this order, read back from the journal as they are used."""
        entries: list[Span | CaseResult] = []
        heads: list[CaseHead] = []
        for item in found:
            if isinstance(item, tuple):
                entries.append(item[0])
                heads.append(item[1])
            else:
                entries.append(item)
                heads.append(head_of(item))
        return CaseFile(self.path, entries, heads)

    def close(self) -> None:
        if self._handle is not None:
            try:
                self._handle.close()
            except OSError:
                pass
            self._handle = None


@dataclass
class JournalContents:
    cases: dict[Key, CaseResult]
    good_bytes: int  # up to the last newline; anything after it is a torn tail
    skipped_lines: list[int]
    batches: list[dict[str, Any]] = field(default_factory=list)  # the batches created (--batch), in order


def read_journal(path: Path) -> JournalContents:
    """Every whole, well-formed line of the journal; a torn last line is tolerated, bad lines skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return JournalContents({}, 0, [])
    except OSError as e:
        raise RunFolderError(f"{path}: cannot read the journal: {e.strerror or e}") from None
    cases: dict[Key, CaseResult] = {}
    batches: list[dict[str, Any]] = []
    skipped: list[int] = []
    whole = data[: data.rfind(b"\n") + 1]  # what follows the last newline was cut short by a crash
    for number, raw in enumerate(whole.split(b"\n")[:-1], start=1):
        try:
            data = json.loads(raw)
            if isinstance(data, dict) and isinstance(data.get(BATCH_KEY), dict):
                created = data[BATCH_KEY].get("created")
                if isinstance(created, dict) and "batch_id" in created:
                    batches.append(created)
                continue  # an upload's record: kept for the user, nothing to resume
            case = case_from_dict(data)
        except (ValueError, KeyError, TypeError, AttributeError):
            skipped.append(number)
            continue
        cases[case.key] = case
    return JournalContents(cases, len(whole), skipped, batches)


def index_journal(path: Path) -> CaseFile:
    """Every well-formed case of a journal as a CaseFile (its latest line per case, in order of first appearance),
    read one line at a time: what a run's results.json and reports are written from, without loading them all."""
    spans: dict[Key, tuple[Span, CaseHead]] = {}
    offset = 0
    with path.open("rb") as f:
        for raw in f:
            if raw.endswith(b"\n"):  # a torn last line is not a finished case
                try:
                    case = case_from_dict(json.loads(raw))
                except (ValueError, KeyError, TypeError, AttributeError):
                    pass
                else:
                    spans[case.key] = ((offset, len(raw)), head_of(case))
            offset += len(raw)
    return CaseFile(path, [span for span, _ in spans.values()], [head for _, head in spans.values()])


@dataclass
class RunFolder:
    """An output folder: results.json, reports, run.json and journal.jsonl."""

    path: Path

    @property
    def journal_path(self) -> Path:
        return self.path / JOURNAL_FILE

    @property
    def run_file(self) -> Path:
        return self.path / RUN_FILE

    def start(self, settings: dict[str, Any], plans: list[list[str]] | None = None) -> Journal:
        """A fresh run: write run.json (never the key), with the planned cases' fingerprints, and an empty journal."""
        write_json_atomic(self.run_file, {
            "format": RUN_FORMAT,
            "version": RUN_VERSION,
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "cwd": os.getcwd(),
            "settings": settings,
            "plans": plans or [],  # [suite, case id, fingerprint] (harness/execution/fingerprint.py)
        })  # fmt: skip
        return Journal(self.journal_path, self.journal_path.open("wb"))

    def load_settings(self) -> dict[str, Any]:
        """The settings the run started with; relative paths made absolute if the cwd moved since."""
        if not self.path.is_dir():
            raise RunFolderError(f"{self.path}: no such run folder to resume")
        try:
            data = json.loads(self.run_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunFolderError(f"{self.run_file}: not found; {self.path} was not written by `harness run`, "
                                 "or by an older version that cannot be resumed") from None  # fmt: skip
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise RunFolderError(f"{self.run_file}: cannot read the run settings ({e}); start the run again "
                                 "without --resume") from None  # fmt: skip
        if not isinstance(data, dict) or data.get("format") != RUN_FORMAT or not isinstance(data.get("settings"), dict):
            raise RunFolderError(f"{self.run_file}: not a prompt-harness run file")
        if not isinstance(data.get("version"), int) or data["version"] > RUN_VERSION:
            raise RunFolderError(f"{self.run_file}: version {data.get('version')!r} is newer than this harness "
                                 "understands; upgrade prompt-harness to resume it")  # fmt: skip
        settings = dict(data["settings"])
        cwd = data.get("cwd")
        if isinstance(cwd, str) and Path(cwd) != Path.cwd():
            settings["paths"] = [str(Path(cwd) / p) for p in settings.get("paths") or []]
            if settings.get("cassette_dir"):
                settings["cassette_dir"] = str(Path(cwd) / settings["cassette_dir"])
        return settings

    def saved_plans(self) -> list[list[str]] | None:
        """The fingerprints of the cases the run started with; None from a run.json written before they were kept."""
        plans = self._read().get("plans")
        ok = isinstance(plans, list) and all(isinstance(p, list) and len(p) == 3 and all(isinstance(x, str) for x in p)
                                             for p in plans)  # fmt: skip
        return plans if ok else None

    def replace_plans(self, plans: list[list[str]]) -> None:
        """Record the cases as planned now (after --rerun-changed), so the next --resume compares with them."""
        write_json_atomic(self.run_file, {**self._read(), "plans": plans})

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.run_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def resume(self) -> tuple[JournalContents, Journal]:
        """What already finished, and the journal reopened for appending (a torn tail cut off first)."""
        contents = read_journal(self.journal_path)
        self.path.mkdir(parents=True, exist_ok=True)
        handle = self.journal_path.open("a+b")
        try:
            handle.truncate(contents.good_bytes)
        finally:
            handle.close()
        for line in contents.skipped_lines:
            print(f"warning: {self.journal_path}:{line}: not a finished case; it will run again", file=sys.stderr)
        return contents, Journal(self.journal_path, self.journal_path.open("ab"), contents.good_bytes)
