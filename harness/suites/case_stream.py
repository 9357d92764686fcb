"""Each case of a suite file validated as soon as the parser has read it, then its YAML tree let go.

A suite's position tree (every key and value with its line and column) is several times the size of the
validated cases: 6.5 KB a case, 650 MB for a 100,000-case file. Validated one at a time, only one case's
tree is alive while the file is read, and what stays is the cases themselves.

A case's validation needs two things written at the top of the suite: `endpoints:` (the names `endpoint:`
may choose) and `grader:` (a graded check needs a model). They are read from what the file holds above
`cases:`; a file that writes either of them below its cases (or writes one twice) is read again whole (``needs_whole_reading``),
which gives the same problems, only without the memory saving.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.core.locations import Loc
from harness.core.problems import Problem
from harness.core.suite import Case
from harness.core.yaml_positions import PosDict, PosList
from harness.suites import endpoint_schema
from harness.suites.scalars import may_hold_bad_scalars, scalars_in
from harness.suites.schema import SuiteValidator, duplicate_keys

# the suite-level keys a case's validation reads (see the module's docstring)
CASE_CONTEXT_KEYS = ("endpoints", "grader")


class CaseStream:
    """Takes the items of `cases:` from ``load_yaml`` (harness/core/yaml_positions.py ``ItemStream``)."""

    key = "cases"

    def __init__(self, file: str, path: Path, text: str) -> None:
        self.file, self.path = file, path
        self.walk_scalars = may_hold_bad_scalars(text)  # the whole text scanned once (0.4 s at 100,000 cases)
        self._reset()

    def _reset(self) -> None:
        self.validator = SuiteValidator(self.file, self.path)
        self.cases: list[Case | None] = []  # one per item, None where the item is not a valid case
        self.duplicates: list[Problem] = []  # keys written twice inside the cases
        self.scalars: list[Problem] = []  # non-finite numbers and broken text inside the cases
        self.started = False

    def start(self, top: PosDict) -> None:
        """`cases:` begins: learn the endpoints and grader written above it (their problems are reported
        when the whole suite is validated, so a scratch validator reads them here)."""
        self.started = True
        scratch = SuiteValidator(self.file, self.path)
        endpoint_schema.parse_endpoints(scratch, top)
        self.validator.endpoint_names = scratch.endpoint_names
        self.validator.grader_spec = scratch.grader(top)

    def take(self, item: Any, loc: Loc, number: int) -> None:
        """Validate case ``number``; the list keeps None in its place."""
        path = f"cases[{number - 1}]"
        self.duplicates += duplicate_keys(item, path)
        # Before validating: surrogate pairs are joined in place. A value reported here is not reported again
        # by validation (load_suite_file drops validation problems at these locations).
        if self.walk_scalars:
            self.scalars += scalars_in(item, path, loc)
        self.cases.append(self.validator.case(item, loc, number))
        alone = PosList([item])  # as the whole file's walk meets it: an item of `cases` (a key-shaped text too)
        alone.loc, alone.item_locs = loc, [loc]
        endpoint_schema.literal_keys(self.validator, alone, self.key)

    def abandon(self) -> None:
        self._reset()

    def needs_whole_reading(self, data: Any) -> bool:
        """True when the streamed cases cannot stand: the file sets `endpoints:` or `grader:` below its cases,
        or writes one of them or `cases:` twice (the later value is the one that counts)."""
        if not self.started or not isinstance(data, PosDict):
            return False
        keys = list(data)
        below = keys[keys.index(self.key) + 1 :] if self.key in keys else []
        twice = {k for k, _ in data.duplicates}
        return any(k in below or k in twice for k in CASE_CONTEXT_KEYS) or self.key in twice
