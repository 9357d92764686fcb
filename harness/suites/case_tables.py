"""`cases_from:`: cases generated from the rows of a data table, with the row's columns as variables.

The block holds `file:`, an `id:` template and any case keys; the keys are
validated once, like a written case, and every row becomes a case whose vars
are the row's columns. Ids come from the data (never from the row's position),
so reordering rows does not rename cassettes; a duplicate id names both rows.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.core.locations import Loc
from harness.core.problems import Problem
from harness.core.suite import Case, DataRow, Suite
from harness.core.yaml_positions import PosDict, PosList
from harness.suites.data_tables import Table, read_table
from harness.suites.project_files import ProjectPathError, project_file, shown
from harness.suites.templating import TemplateProblem, render


class SuiteValidator(Protocol):
    """What this module uses of harness.suites.schema.SuiteValidator (named here: no import cycle)."""

    path: Path
    files: list[Path]
    problems: list[Problem]

    def add(self, loc: Loc, message: str) -> None: ...

    def typed(self, data: PosDict, key: str, kind: type | tuple[type, ...], what: str, where: str) -> Any: ...

    def case(self, data: Any, loc: Loc, number: int, generated: str | None = None,
             allowed: set[str] = ...) -> Case | None: ...  # fmt: skip


TABLE_KEYS = {"file", "id"}
EXAMPLE = '{file: data/tickets.csv, id: "{{ ticket_id }}", turns: [{user: "{{ text }}"}]}'


@dataclass
class MissingColumns:
    """Variables rows lack, gathered over every row and reported once per data file and name."""

    # (data file, name) -> the first row that lacks it, the lines of every such row (once each, whatever the
    # variants), where a template uses the name, and the names the rows did have (columns and `vars:`)
    found: dict[tuple[str, str], tuple[DataRow, set[int], Loc | None, set[str]]] = field(default_factory=dict)

    def note(self, row: DataRow, name: str, used_at: Loc | None = None, known: Iterable[str] = ()) -> None:
        first = self.found.setdefault((row.loc.file, name), (row, set(), used_at, set()))
        first[1].add(row.loc.line)
        first[3].update(known)

    def problems(self) -> list[Problem]:
        out = []
        for (file, name), (row, lines, used_at, known) in self.found.items():
            columns = ", ".join(row.columns) or "none"
            if row.header:
                where, rows = Loc(file, 1, 0), ""
            else:
                more = len(lines) - 1
                where, rows = row.loc, f" (nor {more:,} more row{'s' if more != 1 else ''})" if more else ""
            close = difflib.get_close_matches(name, sorted(known | set(row.columns)), n=1, cutoff=0.75)
            if close and used_at is not None:  # a typo in the template, most likely: point at it
                out.append(Problem(used_at, f"template variable error: {name!r} is undefined; did you mean "
                                            f"{close[0]!r}? (in the cases of `cases_from` {file}{rows}, whose columns "
                                            f"are {columns})"))  # fmt: skip
                continue
            out.append(Problem(where, f"no column {name!r} in the `cases_from` file{rows}, but the cases use "
                                      f"{{{{ {name} }}}}; its columns are {columns}. Add the column, or define "
                                      f"`{name}` under `vars:`"))  # fmt: skip
        return out


def generated_cases(v: SuiteValidator, data: PosDict, suite: Suite, seen: dict[str, Loc],
                    missing: MissingColumns) -> list[Case]:  # fmt: skip
    """Every case of the suite's `cases_from:` (a block or a list of blocks), checked against ``seen`` ids."""
    raw = data.get("cases_from")
    if raw is None:
        return []
    if isinstance(raw, PosDict):
        blocks = [(raw, data.value_locs["cases_from"])]
    elif isinstance(raw, PosList) and raw:
        blocks = list(zip(raw, raw.item_locs))
    else:
        v.add(data.value_locs["cases_from"], f"`cases_from` must be a mapping like {EXAMPLE}, or a list of them")
        return []
    cases: list[Case] = []
    first_row: dict[str, tuple[str, int]] = {}  # id -> (data file, row) for messages naming both rows
    for block, loc in blocks:
        cases += _block(v, block, loc, suite, seen, first_row, missing)
    return cases


def _block(v: SuiteValidator, block: object, loc: Loc, suite: Suite, seen: dict[str, Loc],
           first_row: dict[str, tuple[str, int]], missing: MissingColumns) -> list[Case]:  # fmt: skip
    if not isinstance(block, PosDict):
        v.add(loc, f"each `cases_from` entry must be a mapping like {EXAMPLE}")
        return []
    written = v.typed(block, "file", str, "a path to a .csv, .jsonl, .yaml or .json file", "`cases_from`")
    where = f"`cases_from` {written}" if written else "`cases_from`"
    id_template = v.typed(block, "id", str, 'a template over the row, e.g. "{{ ticket_id }}"', where)
    template = v.case(_without(block, TABLE_KEYS), block.loc, 0, generated=where, allowed=TABLE_KEYS)
    if "file" not in block:
        v.add(block.loc, f"`cases_from` needs `file:`, the data table to read, e.g. {EXAMPLE}")
        return []
    if written is None:
        return []
    try:
        path = project_file(written, v.path.parent, "`cases_from` file")
    except ProjectPathError as e:
        v.add(block.value_locs["file"], str(e))
        return []
    v.files.append(path)
    table, problems = read_table(path, shown(path))
    v.problems.extend(problems)
    if table is None or template is None:
        return []
    return [case for row in table.rows if (case := _row_case(v, table, row, template, id_template, block, suite,
                                                              seen, first_row, missing)) is not None]  # fmt: skip


def _row_case(v: SuiteValidator, table: Table, row: object, template: Case, id_template: str | None,
              block: PosDict, suite: Suite, seen: dict[str, Loc], first_row: dict[str, tuple[str, int]],
              missing: MissingColumns) -> Case | None:  # fmt: skip
    from harness.suites.data_tables import Row

    assert isinstance(row, Row)
    data_row = DataRow(Loc(table.file, row.line, 0), table.columns if table.header else tuple(row.values), table.header)
    variables = {**suite.vars, **template.vars, **row.values}
    if id_template is None:
        case_id = f"{Path(table.file).stem}-{_digest(row.values)}"
    else:
        try:
            case_id = render(id_template, variables).strip()
        except TemplateProblem as e:
            if e.undefined and e.undefined not in row.values:
                missing.note(data_row, e.undefined)
            else:
                v.add(data_row.loc, f"the `id` template ({block.value_locs['id']}) failed for this row: {e}")
            return None
        if not case_id:
            v.add(data_row.loc, f"the `id` template ({block.value_locs['id']}) gives an empty id for this row; "
                                "every row needs its own id")  # fmt: skip
            return None
    if case_id in seen:
        first = first_row.get(case_id)
        if first is None:  # a case written in the suite
            at = str(seen[case_id])
        else:
            at = f"row {first[1]}" if first[0] == table.file else f"{first[0]}:{first[1]}"
        v.add(data_row.loc, f"duplicate id {case_id!r} (first at {at}); ids must be unique in a suite because they "
                            "name the cassette")  # fmt: skip
        return None
    seen[case_id] = data_row.loc
    first_row[case_id] = (table.file, row.line)
    return _copy(template, id=case_id, vars={**template.vars, **row.values}, loc=data_row.loc, row=data_row)


def _copy(case: Case, **changes: object) -> Case:
    """The case with ``changes``: a shallow copy, as ``dataclasses.replace`` makes, at a fifth of its cost
    (it runs once per row of a table: 10,000 times for a 10,000-row CSV)."""
    copied = object.__new__(Case)
    copied.__dict__.update(case.__dict__, **changes)
    return copied


def _digest(values: dict[str, object]) -> str:
    """The id of a row without an `id:` template: its content, so reordering rows keeps every id."""
    text = json.dumps(values, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _without(data: PosDict, keys: set[str]) -> PosDict:
    """A copy of a mapping, positions included, without ``keys``."""
    out = PosDict()
    out.loc = data.loc
    out.key_locs = {k: loc for k, loc in data.key_locs.items() if k not in keys}
    out.value_locs = {k: loc for k, loc in data.value_locs.items() if k not in keys}
    out.duplicates = []
    for k, value in data.items():
        if k not in keys:
            out[k] = value
    return out
