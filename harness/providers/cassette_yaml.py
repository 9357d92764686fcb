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

from harness.core.yaml_events import NOT_SCALAR_TAGS as _NOT_SCALAR_TAGS
from harness.core.yaml_events import STR_TAG as _STR_TAG
from harness.core.yaml_events import ImplicitTags, read_plain_document
from harness.core.yaml_events import NotPlain as _NotPlain

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MAX_DEPTH = 200


def load_cassette_yaml(text: str) -> Any:
    """The data ``yaml.load(text, Loader=CSafeLoader)`` gives, built from events when the document is plain."""
    try:
        return _from_events(text)
    except _NotPlain:
        return yaml.load(text, Loader=_Loader)


def _from_events(text: str) -> Any:
    return read_plain_document(_Loader, text, lambda loader: _Builder(loader).value)


class _Builder:
    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.get = loader.get_event
        self.implicit_tag = ImplicitTags(loader)

    def value(self, event: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH or event.anchor is not None or event.tag is not None:
            raise _NotPlain
        kind = type(event)
        if kind is yaml.ScalarEvent:
            tag = self.implicit_tag(event.value) if event.implicit[0] else _STR_TAG
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
