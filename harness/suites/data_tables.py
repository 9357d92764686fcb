"""Reading a `cases_from:` table: CSV with a header row, JSON Lines, or a YAML/JSON list of mappings.

Each row keeps the line it starts on, so every problem (and every generated
case) points at `data/tickets.csv:17`, the row a spreadsheet shows as 17.
Every problem in the file is collected, not just the first.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.locations import Loc
from harness.core.problems import Problem
from harness.core.yaml_positions import PosDict, PosList, YamlSyntaxError, load_yaml, to_plain
from harness.suites.project_files import ProjectPathError, read_text
from harness.suites.scalars import row_problems

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}


@dataclass
class Row:
    line: int  # where the row starts in its file (1-based); a CSV's header is line 1
    values: dict[str, Any]


@dataclass
class Table:
    file: str  # as shown in messages: relative to the project
    rows: list[Row]
    columns: tuple[str, ...]  # every column any row has, in first-seen order
    header: bool  # CSV: every row has the header's columns, so a missing one is missing everywhere


def read_table(path: Path, shown: str) -> tuple[Table | None, list[Problem]]:
    """The rows of a data file, and every problem found in it (the table is None when it cannot be used)."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        return None, [Problem(Loc(shown, 0, 0), f"a `cases_from` file must be .csv (with a header row), .jsonl, "
                                                f".yaml or .json; {path.name} is none of these")]  # fmt: skip
    try:
        text = read_text(path, "`cases_from` file")
    except ProjectPathError as e:
        return None, [Problem(Loc(shown, 0, 0), str(e))]
    reader = {"csv": _csv_rows, "jsonl": _jsonl_rows, "yaml": _yaml_rows, "json": _json_rows}[kind]
    rows, problems = reader(text, shown)
    for row in rows:  # a JSON `NaN` or `"\ud83d"` cannot be sent or stored: as in a suite (harness/suites/scalars.py)
        problems += row_problems(row.values, Loc(shown, row.line, 0))
    if not rows and not problems:
        hint = "add rows below the header" if kind == "csv" else "add at least one row"
        problems.append(Problem(Loc(shown, 0, 0), f"the `cases_from` file has no rows; {hint}"))
    columns = tuple(dict.fromkeys(k for row in rows for k in row.values))
    return (Table(shown, rows, columns, kind == "csv") if rows else None), problems  # good rows are still checked


def _csv_rows(text: str, file: str) -> tuple[list[Row], list[Problem]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[Problem] = []
    try:
        header = next(reader, None)
    except csv.Error as e:
        return [], [Problem(Loc(file, 1, 0), f"the header row is not valid CSV: {e}")]
    if not header or not any(cell.strip() for cell in header):
        return [], [Problem(Loc(file, 1, 0), "the first line of a CSV file must be a header row naming its columns, "
                                             "e.g. ticket_id,text,intent")]  # fmt: skip
    names = [cell.strip() for cell in header]
    for position, name in enumerate(names, start=1):
        if not name:
            problems.append(Problem(Loc(file, 1, 0), f"column {position} of the header has no name; name it"))
        elif name in names[: position - 1]:
            problems.append(Problem(Loc(file, 1, 0), f"the header names column {name!r} twice; rename one"))
    rows: list[Row] = []
    previous = reader.line_num
    while True:
        start = previous + 1
        try:
            cells = next(reader, None)
        except csv.Error as e:
            problems.append(Problem(Loc(file, start, 0), f"not valid CSV: {e}"))
            break
        if cells is None:
            break
        previous = reader.line_num
        if not any(cell.strip() for cell in cells):  # a blank line, or a spreadsheet's trailing ",,,"
            continue
        if len(cells) != len(names):
            problems.append(Problem(Loc(file, start, 0), f"this row has {len(cells)} cells but the header has "
                                                         f"{len(names)} columns ({', '.join(names)}); quote a value "
                                                         "that holds a comma"))  # fmt: skip
            continue
        rows.append(Row(start, dict(zip(names, cells))))
    return rows, problems


def _jsonl_rows(text: str, file: str) -> tuple[list[Row], list[Problem]]:
    rows: list[Row] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as e:
            column = getattr(e, "colno", 1)
            problems.append(Problem(Loc(file, number, column), f"not valid JSON: {getattr(e, 'msg', e)}; "
                                                               "each line of a .jsonl file is one JSON object"))  # fmt: skip
            continue
        if not isinstance(value, dict):
            problems.append(Problem(Loc(file, number, 0), f"each line of a .jsonl file must be a JSON object "
                                                          f"(its columns), got {type(value).__name__}"))  # fmt: skip
            continue
        rows.append(Row(number, {str(k): v for k, v in value.items()}))
    return rows, problems


def _yaml_rows(text: str, file: str) -> tuple[list[Row], list[Problem]]:
    try:
        data = load_yaml(text, file)
    except YamlSyntaxError as e:
        return [], [Problem(e.loc, e.message)]
    if not isinstance(data, PosList):
        return [], [Problem(Loc(file, 1, 1), "a YAML `cases_from` file must be a list of mappings, one per case, "
                                             "e.g. `- {ticket_id: T-1, text: ...}`")]  # fmt: skip
    rows: list[Row] = []
    problems: list[Problem] = []
    for item, loc in zip(data, data.item_locs):
        if not isinstance(item, PosDict):
            problems.append(Problem(loc, "each item of a `cases_from` list must be a mapping of column names to values"))
            continue
        rows.append(Row(loc.line, {str(k): to_plain(v) for k, v in item.items()}))
    return rows, problems


def _json_rows(text: str, file: str) -> tuple[list[Row], list[Problem]]:
    """A JSON list of objects, read with the json module; each item's line found from where it starts."""
    decoder = json.JSONDecoder()
    try:
        json.loads(text)
    except ValueError as e:
        return [], [Problem(Loc(file, getattr(e, "lineno", 1), getattr(e, "colno", 1)), f"not valid JSON: {getattr(e, 'msg', e)}")]
    at = _skip_space(text, 0)
    if not text.startswith("[", at):
        return [], [Problem(Loc(file, 1, 1), "a JSON `cases_from` file must be a list of objects, one per case")]
    rows: list[Row] = []
    problems: list[Problem] = []
    at = _skip_space(text, at + 1)
    while at < len(text) and text[at] != "]":
        line = text.count("\n", 0, at) + 1
        value, at = decoder.raw_decode(text, at)
        if isinstance(value, dict):
            rows.append(Row(line, {str(k): v for k, v in value.items()}))
        else:
            problems.append(Problem(Loc(file, line, 0), f"each item of a `cases_from` list must be an object of "
                                                        f"column names to values, got {type(value).__name__}"))  # fmt: skip
        at = _skip_space(text, at)
        if at < len(text) and text[at] == ",":
            at = _skip_space(text, at + 1)
    return rows, problems


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at
