"""YAML loading that remembers where every key and value came from.

Suite errors must name the file, line and column, so the loader keeps the
position of each mapping key, value and list item next to the plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

MAX_DEPTH = 64
MAX_NODES = 1_000_000


@dataclass(frozen=True)
class Loc:
    """A place in a file, 1-based, as editors show it."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class YamlSyntaxError(Exception):
    def __init__(self, loc: Loc, message: str):
        super().__init__(f"{loc}: {message}")
        self.loc = loc
        self.message = message


class PosDict(dict):
    """A dict with the position of itself, each key and each value."""

    loc: Loc
    key_locs: dict[Any, Loc]
    value_locs: dict[Any, Loc]
    duplicates: list[tuple[Any, Loc]]


class PosList(list):
    """A list with the position of itself and of each item."""

    loc: Loc
    item_locs: list[Loc]


def _loc(file: str, mark: Any) -> Loc:
    return Loc(file, mark.line + 1, mark.column + 1)


def load_yaml(text: str, file: str) -> Any:
    """Parse one YAML document into PosDict/PosList/scalars; raise YamlSyntaxError."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            loc = _loc(file, mark) if mark else Loc(file, 1, 1)
            raise YamlSyntaxError(loc, f"invalid YAML: {e.problem or e.context}") from None
        except yaml.YAMLError as e:
            raise YamlSyntaxError(Loc(file, 1, 1), f"invalid YAML: {e}") from None
        except RecursionError:
            raise YamlSyntaxError(Loc(file, 1, 1), "invalid YAML: nested too deeply") from None
        if node is None:
            return None
        return _convert(loader, node, file, 0, [MAX_NODES])
    finally:
        loader.dispose()


def _convert(loader: yaml.SafeLoader, node: yaml.Node, file: str, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:  # aliases can expand a small file exponentially ("billion laughs")
        raise YamlSyntaxError(_loc(file, node.start_mark), f"document expands to more than {MAX_NODES:,} values "
                              "(through YAML aliases); simplify it")  # fmt: skip
    if depth > MAX_DEPTH:
        raise YamlSyntaxError(_loc(file, node.start_mark), f"nested more than {MAX_DEPTH} levels deep")
    if isinstance(node, yaml.MappingNode):
        # Keys written in this mapping, as opposed to ones merged in with `<<: *anchor`, which
        # they may override; remembered on the node because an aliased node is converted again.
        own = getattr(node, "own_key_ids", None)
        if own is None:
            own = node.own_key_ids = {id(k) for k, _ in node.value}
        try:
            loader.flatten_mapping(node)
        except yaml.MarkedYAMLError as e:
            raise YamlSyntaxError(_loc(file, e.problem_mark or node.start_mark), str(e.problem)) from None
        out = PosDict()
        out.loc = _loc(file, node.start_mark)
        out.key_locs, out.value_locs, out.duplicates = {}, {}, []
        own_seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = _convert(loader, key_node, file, depth + 1, budget)
            if isinstance(key, (dict, list)):
                raise YamlSyntaxError(_loc(file, key_node.start_mark), "a mapping key must be a plain value")
            key_loc = _loc(file, key_node.start_mark)
            if id(key_node) in own:
                if key in own_seen:
                    out.duplicates.append((key, key_loc))
                own_seen.add(key)
            out[key] = _convert(loader, value_node, file, depth + 1, budget)
            out.key_locs[key] = key_loc
            out.value_locs[key] = _loc(file, value_node.start_mark)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = PosList()
        items.loc = _loc(file, node.start_mark)
        items.item_locs = []
        for child in node.value:
            items.append(_convert(loader, child, file, depth + 1, budget))
            items.item_locs.append(_loc(file, child.start_mark))
        return items
    try:
        return loader.construct_object(node, deep=True)
    except yaml.MarkedYAMLError as e:
        raise YamlSyntaxError(_loc(file, e.problem_mark or node.start_mark), str(e.problem)) from None
    except (ValueError, OverflowError) as e:
        raise YamlSyntaxError(_loc(file, node.start_mark), f"invalid value: {e}") from None


def to_plain(value: Any) -> Any:
    """Strip position info: plain dicts and lists for sending or serialising."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value
