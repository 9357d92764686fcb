"""Plain YAML documents built straight from libyaml's events: what the suite loader and the cassette reader share.

Both skip the node tree ``yaml.load`` builds (most of the cost on large suites
and on a replay's cassettes) for documents with no anchors, aliases, tags or
merge keys; anything else raises ``NotPlain`` and goes through the full loader,
which gives the same result or words the error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

STR_TAG = "tag:yaml.org,2002:str"
NOT_SCALAR_TAGS = ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value")


class NotPlain(Exception):
    """Something only the full loader handles: an anchor, alias, tag, merge key, a second document or an error."""


def read_plain_document(loader_class: type, text: str, builder: Callable[[Any], Callable[[Any, int], Any]]) -> Any:
    """The one document of ``text``, built by ``builder(loader)(first_event, depth)``; None for an empty stream."""
    try:
        loader = loader_class(text)
    except yaml.YAMLError:
        raise NotPlain from None
    try:
        loader.get_event()  # stream start
        if loader.check_event(yaml.StreamEndEvent):
            return None
        loader.get_event()  # document start
        value = builder(loader)(loader.get_event(), 0)
        loader.get_event()  # document end
        if not loader.check_event(yaml.StreamEndEvent):
            raise NotPlain  # more than one document: the full loader's own error
        return value
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError, AttributeError):
        raise NotPlain from None
    finally:
        loader.dispose()


class ImplicitTags:
    """What ``Resolver.resolve`` answers for an untagged plain scalar, without its per-call lookups.

    The loader's implicit resolvers are tabled by first character once; a loader with path resolvers
    (tags by position) is the full loader's business.
    """

    def __init__(self, loader: Any) -> None:
        if getattr(loader, "yaml_path_resolvers", None):
            raise NotPlain
        self.table = loader.yaml_implicit_resolvers
        self.by_first: dict[str, list[tuple[str, Any]]] = {}

    def __call__(self, value: str) -> str:
        first = value[0] if value else ""
        resolvers = self.by_first.get(first)
        if resolvers is None:
            resolvers = self.by_first[first] = list(self.table.get(first, [])) + list(self.table.get(None, []))
        for tag, regexp in resolvers:
            if regexp.match(value):
                return tag
        return STR_TAG
