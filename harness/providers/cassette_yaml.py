"""Reading a cassette's YAML at libyaml's speed: plain data straight from the parser's events.

``yaml.load`` with libyaml's CSafeLoader still builds a node tree and then
converts it in Python; for the small, plain documents cassettes are (no
anchors, aliases, tags or merge keys: the harness never writes them) that is
five times the cost of the parser's events themselves, and parsing cassettes
is the largest part of a replay from a cold parse cache. This reader builds
the same dicts, lists and scalars (resolved and constructed by the loader's
own resolvers and constructors) from the events; anything else in a file,
or anything it cannot read, goes to ``yaml.load``, which gives the same
result or the same error as before.
"""

from __future__ import annotations

from types import GeneratorType
from typing import Any

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_NOT_SCALAR_TAGS = ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value")
_MAX_DEPTH = 200


class _NotPlain(Exception):
    """Something only the full loader handles: an anchor, alias, tag, merge key or error."""


def load_cassette_yaml(text: str) -> Any:
    """The data ``yaml.load(text, Loader=CSafeLoader)`` gives, built from events when the document is plain."""
    try:
        return _from_events(text)
    except _NotPlain:
        return yaml.load(text, Loader=_Loader)


def _from_events(text: str) -> Any:
    try:
        loader = _Loader(text)
    except yaml.YAMLError:
        raise _NotPlain from None
    try:
        loader.get_event()  # stream start
        if loader.check_event(yaml.StreamEndEvent):
            return None
        loader.get_event()  # document start
        value = _Builder(loader).value(loader.get_event(), 0)
        loader.get_event()  # document end
        if not loader.check_event(yaml.StreamEndEvent):
            raise _NotPlain  # more than one document: yaml.load's own error
        return value
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError, AttributeError):
        raise _NotPlain from None
    finally:
        loader.dispose()


class _Builder:
    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.get = loader.get_event
        self.resolvers: dict[str, list[tuple[str, Any]]] = {}
        if getattr(loader, "yaml_path_resolvers", None):
            raise _NotPlain  # tags by position: the loader's own business

    def tag(self, value: str, plain: bool) -> str:
        """What ``Resolver.resolve`` answers for an untagged scalar (no path resolvers)."""
        if not plain:
            return _STR_TAG
        first = value[0] if value else ""
        resolvers = self.resolvers.get(first)
        if resolvers is None:
            table = self.loader.yaml_implicit_resolvers
            resolvers = self.resolvers[first] = list(table.get(first, [])) + list(table.get(None, []))
        for tag, regexp in resolvers:
            if regexp.match(value):
                return tag
        return _STR_TAG

    def value(self, event: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH or event.anchor is not None or event.tag is not None:
            raise _NotPlain
        kind = type(event)
        if kind is yaml.ScalarEvent:
            tag = self.tag(event.value, event.implicit[0])
            if tag == _STR_TAG:
                return event.value
            constructor = self.loader.yaml_constructors.get(tag)
            if constructor is None or tag in _NOT_SCALAR_TAGS:
                raise _NotPlain
            value = constructor(self.loader, yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark,
                                                             event.style))  # fmt: skip
            if isinstance(value, GeneratorType):
                raise _NotPlain
            return value
        get = self.get
        if kind is yaml.MappingStartEvent:
            out: dict[Any, Any] = {}
            while True:
                key_event = get()
                if type(key_event) is yaml.MappingEndEvent:
                    return out
                key = self.value(key_event, depth + 1)
                if isinstance(key, (dict, list)):
                    raise _NotPlain  # unhashable: yaml.load's own error
                out[key] = self.value(get(), depth + 1)
        if kind is yaml.SequenceStartEvent:
            items: list[Any] = []
            while True:
                item_event = get()
                if type(item_event) is yaml.SequenceEndEvent:
                    return items
                items.append(self.value(item_event, depth + 1))
        raise _NotPlain  # an alias
