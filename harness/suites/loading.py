"""Suite files: the types, discovery and loading.

Loading collects every problem in every file before reporting (the rules live
in harness/suite_schema.py), so a user fixes a suite in one pass, and nothing
is sent until the whole input is sound.
"""

from __future__ import annotations

from pathlib import Path

from harness.core.locations import Loc
from harness.core.problems import Problem, SuiteError
from harness.core.suite import SKIPPED_DIRS, Suite
from harness.core.yaml_positions import PosDict, YamlSyntaxError, load_yaml
from harness.suites.case_stream import CaseStream
from harness.suites.scalars import scalars_in
from harness.suites.schema import duplicate_keys


def discover(paths: list[str | Path]) -> tuple[list[Path], list[Problem]]:
    """Expand files and folders (recursively) into suite files, sorted for stable runs."""
    files: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.suffix in (".yaml", ".yml")
                and f.is_file()
                and not any(part.startswith(".") or part in SKIPPED_DIRS for part in f.relative_to(p).parts[:-1])
            )
            if not found:
                problems.append(Problem(Loc(str(p), 0, 0), "folder holds no *.yaml or *.yml suite files"))
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            problems.append(Problem(Loc(str(p), 0, 0), "no such file or folder"))
    unique = list(dict.fromkeys(f.resolve() for f in files))
    return [Path(_display_path(f)) for f in unique], problems


def _display_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_suites(paths: list[str | Path]) -> list[Suite]:
    """Load and validate every suite under ``paths``; raise SuiteError listing all problems."""
    suites, problems = load_suites_partially(paths)
    if problems:
        raise SuiteError(problems)
    return suites


def load_suites_partially(paths: list[str | Path]) -> tuple[list[Suite], list[Problem]]:
    """Load what can be loaded and collect every problem, so later stages can add theirs."""
    files, problems = discover(paths)
    suites: list[Suite] = []
    found_in: dict[Path, list[Problem]] = {}
    for f in files:
        suite, found = load_suite_file(f)
        found_in[f.resolve()] = found
        if suite is not None:
            suites.append(suite)
    # A YAML data table or price file that a suite reads is not a suite itself, though a folder holds both.
    read = {path.resolve() for s in suites for path in s.files}
    suites = [s for s in suites if Path(s.path).resolve() not in read]
    problems += [p for path, found in found_in.items() if path not in read for p in found]
    seen: dict[str, Suite] = {}
    for s in suites:
        if s.name in seen:
            problems.append(
                Problem(s.loc, f"suite name {s.name!r} is also used by {seen[s.name].path}; "
                        "suite names must be unique because they name the cassette folder")
            )  # fmt: skip
        seen.setdefault(s.name, s)
    return suites, problems


def load_suite_file(path: Path) -> tuple[Suite | None, list[Problem]]:
    """Load one suite file; returns the suite (None if unusable) and its problems."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        return None, [Problem(Loc(file, 1, 1), f"cannot read file: {e.strerror or e}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        return None, [Problem(Loc(file, line, 1), "file is not valid UTF-8 text; save it as UTF-8")]
    stream = CaseStream(file, path, text)  # each case validated as it is read: one case's tree in memory
    try:
        data = load_yaml(text, file, stream)
        if stream.needs_whole_reading(data):
            stream.abandon()
            data = load_yaml(text, file)
    except YamlSyntaxError as e:
        return None, [Problem(e.loc, e.message)]
    if not isinstance(data, PosDict):
        return None, [Problem(Loc(file, 1, 1), "a suite file must be a YAML mapping with a `cases:` list")]
    scalars = stream.scalars + (scalars_in(data, "", data.loc) if stream.walk_scalars else [])  # the rest of the file
    suite, problems = stream.validator.suite(data, stream.cases if stream.started else None)
    flagged = {p.loc for p in scalars}  # one problem per value: `.nan` is not also "must be more than 0"
    duplicates = stream.duplicates + duplicate_keys(data, "")
    return suite, list(dict.fromkeys(duplicates)) + scalars + [p for p in problems if p.loc not in flagged]
