"""YAML loading that remembers where every key and value came from.

Suite errors must name the file, line and column, so the loader keeps the
position of each mapping key, value and list item next to the plain data.
"""

from __future__ import annotations

import gc
import re
from types import GeneratorType
from typing import Any, Protocol

import yaml

from harness.core.locations import Loc
from harness.core.yaml_events import NOT_SCALAR_TAGS as _NOT_SCALAR_TAGS
from harness.core.yaml_events import STR_TAG as _STR_TAG
from harness.core.yaml_events import ImplicitTags, read_plain_document
from harness.core.yaml_events import NotPlain as _NotPlain

MAX_DEPTH = 64
# What aliases may add to a document: the values met again through an alias, beyond the document's
# own. A plain document of any size is not limited (its cost is linear in its text); an alias bomb
# ("billion laughs") adds exponentially many and is refused.
MAX_ALIAS_VALUES = 1_000_000


class YamlSyntaxError(Exception):
    def __init__(self, loc: Loc, message: str):
        super().__init__(f"{loc}: {message}")
        self.loc = loc
        self.message = message


class PosDict(dict):
    """A dict with the position of itself, each key and each value."""

    __slots__ = ("loc", "key_locs", "value_locs", "duplicates")  # no per-instance __dict__: big suites hold many
    loc: Loc
    key_locs: dict[Any, Loc]
    value_locs: dict[Any, Loc]
    duplicates: list[tuple[Any, Loc]]  # _NO_DUPLICATES (shared, empty) until a key repeats


_NO_DUPLICATES: list[tuple[Any, Loc]] = []  # never appended to: a mapping gets its own list on its first repeat


class PosList(list):
    """A list with the position of itself and of each item."""

    __slots__ = ("loc", "item_locs")
    loc: Loc
    item_locs: list[Loc]


class ItemStream(Protocol):
    """Takes the items of one top-level list (``key``) as the parser finishes each, so a big document's
    items are never all in memory at once: what ``take`` returns is kept in the list instead of the item.

    Only plain documents are streamed; when ``load_yaml`` has to read a document the other way (an anchor,
    an alias, a tag), it calls ``abandon`` first and the list comes back whole.
    """

    key: str

    def start(self, top: PosDict) -> None:
        """The list begins; ``top`` holds the keys written above it."""

    def take(self, item: Any, loc: Loc, number: int) -> Any:
        """Item ``number`` (from 1) at ``loc``, complete; returns what the list keeps in its place."""

    def abandon(self) -> None:
        """Forget every item taken: the document is read again, whole."""


def _loc(file: str, mark: Any) -> Loc:
    return Loc(file, mark.line + 1, mark.column + 1)


_make = object.__new__
_set_file, _set_line, _set_column = Loc.file.__set__, Loc.line.__set__, Loc.column.__set__  # type: ignore[attr-defined]


def _new_loc(file: str, line: int, column: int) -> Loc:
    """Loc(file, line, column) at half the cost (a frozen dataclass's __init__ goes through
    object.__setattr__); a big suite makes millions of them."""
    loc = _make(Loc)
    _set_file(loc, file)
    _set_line(loc, line)
    _set_column(loc, column)
    return loc


def load_yaml(text: str, file: str, stream: ItemStream | None = None) -> Any:
    """Parse one YAML document into PosDict/PosList/scalars; raise YamlSyntaxError.

    With ``stream``, the items of the top-level list ``stream.key`` go to it one by one (see ItemStream).
    """
    # libyaml's parser when PyYAML has it: same nodes and marks, 2-3x faster on big suites. On an
    # error the pure-Python parser runs again for its message, which names more (the tab, the alias).
    # The cyclic GC is paused meanwhile: the node tree is hundreds of thousands of live objects that
    # it would otherwise scan again and again (three quarters of the load time of a 10,000-case suite).
    fast = getattr(yaml, "CSafeLoader", None)
    paused = gc.isenabled()
    gc.disable()
    try:
        if fast is not None:
            try:
                return _load_events(fast, text, file, stream)
            except _NotPlain:
                if stream is not None:
                    stream.abandon()
            try:
                return _load_with(fast, text, file)
            except YamlSyntaxError:
                pass
        return _load_with(yaml.SafeLoader, text, file)
    finally:
        if paused:
            gc.enable()




def _load_events(loader_class: type, text: str, file: str, stream: ItemStream | None = None) -> Any:
    """Build PosDict/PosList straight from the parser's events, with no node tree in between.

    The node tree of a 10,000-case suite is ~200 MB; the events are consumed one at a time. Only
    plain documents take this path; anything else raises _NotPlain and goes through the nodes,
    which handle anchors, aliases and merge keys and word every error.
    """
    return read_plain_document(loader_class, text, lambda loader: _EventBuilder(loader, file, stream).value)


class _EventBuilder:
    """Turns one plain document's events into PosDict/PosList/scalars.

    Per value it does the least it can, since a 100,000-case suite is millions of values: each event
    is fetched once (its mark is the position), a scalar's tag is resolved from a table of the
    loader's implicit resolvers by first character (what ``Resolver.resolve`` does, without its
    per-call lookups), and positions on one line share one line number object.
    """

    def __init__(self, loader: Any, file: str, stream: ItemStream | None = None) -> None:
        self.loader = loader
        self.file = file
        self.stream = stream
        self.lines: dict[int, int] = {}
        # a loader with path resolvers resolves tags by position: leave those to it
        self.by_path = bool(getattr(loader, "yaml_path_resolvers", None))
        self.implicit_tag = None if self.by_path else ImplicitTags(loader)

    def loc(self, mark: Any) -> Loc:
        line = mark.line + 1
        return _new_loc(self.file, self.lines.setdefault(line, line), mark.column + 1)

    def tag(self, event: Any) -> str:
        if self.implicit_tag is None:
            return self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        return self.implicit_tag(event.value) if event.implicit[0] else _STR_TAG  # quoted or block: a string

    def value(self, event: Any, depth: int) -> Any:
        """The value that starts with ``event`` (already taken from the loader)."""
        if depth > MAX_DEPTH or event.anchor is not None or event.tag is not None:
            raise _NotPlain
        kind = type(event)
        if kind is yaml.ScalarEvent:
            tag = self.tag(event)
            if tag == _STR_TAG:
                return event.value
            constructor = self.loader.yaml_constructors.get(tag)
            if constructor is None or tag in _NOT_SCALAR_TAGS:
                raise _NotPlain
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
            value = constructor(self.loader, node)
            if isinstance(value, GeneratorType):
                raise _NotPlain
            return value
        get = self.loader.get_event
        if kind is yaml.MappingStartEvent:
            out = PosDict()
            out.loc = self.loc(event.start_mark)
            key_locs: dict[Any, Loc] = {}
            value_locs: dict[Any, Loc] = {}
            out.key_locs, out.value_locs, out.duplicates = key_locs, value_locs, _NO_DUPLICATES
            while True:
                key_event = get()
                if type(key_event) is yaml.MappingEndEvent:
                    return out
                key_loc = self.loc(key_event.start_mark)
                key = self.value(key_event, depth + 1)
                if isinstance(key, (dict, list)):
                    raise _NotPlain
                if key in out:
                    if out.duplicates is _NO_DUPLICATES:
                        out.duplicates = []
                    out.duplicates.append((key, key_loc))
                value_event = get()
                value_locs[key] = self.loc(value_event.start_mark)
                if depth == 0 and self.stream is not None and key == self.stream.key and key not in out \
                        and type(value_event) is yaml.SequenceStartEvent and value_event.anchor is None \
                        and value_event.tag is None:  # fmt: skip
                    out[key] = self.streamed(value_event, out)
                else:
                    out[key] = self.value(value_event, depth + 1)
                key_locs[key] = key_loc
        if kind is yaml.SequenceStartEvent:
            items = PosList()
            items.loc = self.loc(event.start_mark)
            item_locs: list[Loc] = []
            items.item_locs = item_locs
            while True:
                item_event = get()
                if type(item_event) is yaml.SequenceEndEvent:
                    return items
                item_locs.append(self.loc(item_event.start_mark))
                items.append(self.value(item_event, depth + 1))
        raise _NotPlain  # an alias

    def streamed(self, event: Any, top: PosDict) -> PosList:
        """The top-level list ``stream.key``, each item handed to the stream as soon as it is complete."""
        assert self.stream is not None
        self.stream.start(top)
        items = PosList()
        items.loc = self.loc(event.start_mark)
        items.item_locs = []
        get = self.loader.get_event
        while True:
            item_event = get()
            if type(item_event) is yaml.SequenceEndEvent:
                return items
            loc = self.loc(item_event.start_mark)
            items.item_locs.append(loc)
            items.append(self.stream.take(self.value(item_event, 2), loc, len(items) + 1))


def _load_with(loader_class: type, text: str, file: str) -> Any:
    try:
        loader = loader_class(text)
    except yaml.reader.ReaderError as e:  # the pure-Python reader rejects control characters up front
        line = text.count("\n", 0, e.position) + 1
        column = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
        raise YamlSyntaxError(Loc(file, line, column), f"invalid YAML: character #x{e.character:04x} is not "
                              "allowed in YAML text; remove it")  # fmt: skip
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            loc = _loc(file, mark) if mark else Loc(file, 1, 1)
            hint = syntax_hint(text, e)
            raise YamlSyntaxError(loc, f"invalid YAML: {e.problem or e.context}" + (f"; {hint}" if hint else "")) from None
        except yaml.YAMLError as e:
            raise YamlSyntaxError(Loc(file, 1, 1), f"invalid YAML: {e}") from None
        except RecursionError:
            raise YamlSyntaxError(Loc(file, 1, 1), "invalid YAML: nested too deeply") from None
        except (ValueError, OverflowError) as e:  # PyYAML's scanner on an escape past U+10FFFF ("\UFFFFFFFF")
            raise YamlSyntaxError(Loc(file, 1, 1), f"invalid YAML: an escape sequence is out of range ({e})") from None
        if node is None:
            return None
        return _convert(loader, node, file, 0, _AliasBudget(MAX_ALIAS_VALUES))
    finally:
        loader.dispose()


TAB_HINT = "YAML does not allow tabs for indentation; use spaces"
INDENT_HINT = "check the indentation of this line and the one above"
QUOTE_HINT = "quote the value: a value starting with { or containing ': ' must be quoted"
_VALUE_STARTS_WITH_BRACE = re.compile(r"(?:^\s*-\s+|:\s+)\{")
_KEY_THEN_VALUE = re.compile(r"^\s*(?:-\s+)?[^\s#:][^:#]*:\s+\S")
_INDENTATION_PROBLEMS = ("expected <block end>", "expected <block mapping start>", "did not find expected key",
                         "did not find expected '-' indicator", "mapping values are not allowed here")  # fmt: skip


def syntax_hint(text: str, e: yaml.MarkedYAMLError) -> str | None:
    """A plain-words fix for the usual causes of a PyYAML syntax error: a tab, an unquoted
    template or colon, an unclosed quote or bracket, a line indented wrongly; None if unsure."""
    problem, context = str(e.problem or ""), str(e.context or "")
    mark = e.problem_mark
    lines = text.splitlines()
    line = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
    if "'\\t'" in problem:
        return TAB_HINT if mark is None or not line[: mark.column].strip() else "YAML does not allow tabs here; use spaces"
    flow = context.startswith("while parsing a flow")
    if _VALUE_STARTS_WITH_BRACE.search(line) and ("{{" in line or not flow):  # `user: {{ name }} says hi`
        return QUOTE_HINT
    if "mapping values are not allowed here" in problem and mark is not None:
        first = _KEY_THEN_VALUE.match(line)
        if first and mark.column >= first.end():  # a second ': ' after the key's own: inside the value
            return QUOTE_HINT
    if context.startswith("while scanning a quoted scalar") and e.context_mark is not None:
        return f"the quoted value that starts at line {e.context_mark.line + 1} is never closed; add the closing quote"
    if flow and e.context_mark is not None:
        bracket = "[" if "sequence" in context else "{"
        return (f"the {bracket} at line {e.context_mark.line + 1}, column {e.context_mark.column + 1} is not "
                f"closed, or text inside it needs quotes")  # fmt: skip
    if any(p in problem for p in _INDENTATION_PROBLEMS):
        return INDENT_HINT
    return None


class _AliasBudget:
    """Counts the values aliases add: each node converted again (reached through an alias) costs one.

    A node's first conversion is free, so a document without aliases, however big, never runs out;
    aliases can expand a small file exponentially ("billion laughs"), and those repeats are what is limited.
    """

    __slots__ = ("seen", "left")

    def __init__(self, limit: int) -> None:
        self.seen: set[int] = set()  # ids of the nodes converted once (the node tree keeps them alive)
        self.left = limit

    def spend(self, node: yaml.Node) -> bool:
        """Account for converting ``node``; False once aliases have added more than the limit."""
        key = id(node)
        if key not in self.seen:
            self.seen.add(key)
            return True
        self.left -= 1
        return self.left >= 0


def _convert(loader: yaml.SafeLoader, node: yaml.Node, file: str, depth: int, budget: _AliasBudget) -> Any:
    if not budget.spend(node):
        raise YamlSyntaxError(_loc(file, node.start_mark), f"YAML aliases expand this document by more than "
                              f"{MAX_ALIAS_VALUES:,} values; simplify it")  # fmt: skip
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
            if isinstance(key, (dict, list, set)):
                # A dict key is almost always `user: {{ name }}`: YAML reads the template as a mapping in a mapping.
                quote = f"; {QUOTE_HINT}" if isinstance(key, dict) else ""
                raise YamlSyntaxError(_loc(file, key_node.start_mark), f"a mapping key must be a plain value{quote}")
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
    except (ValueError, OverflowError, IndexError, AttributeError, TypeError) as e:
        # PyYAML's own constructors crash on some explicit tags with odd values (`!!float ''`, `!!timestamp x`)
        raise YamlSyntaxError(_loc(file, node.start_mark), f"invalid value for {node.tag}: {e or type(e).__name__}") from None


def to_plain(value: Any) -> Any:
    """Strip position info: plain dicts and lists for sending or serialising."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value
