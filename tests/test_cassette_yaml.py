"""Cassettes read from libyaml's events give exactly what yaml.load gives, or yaml.load's own error."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from harness.providers.cassette_yaml import load_cassette_yaml

SAMPLES = [
    "",
    "# only a comment\n",
    "version: 1\ninteractions: []\n",
    "a: 1\nb: -2.5\nc: .inf\nd: -.inf\ne: 0x1f\nf: 0o17\ng: 1_000\nh: 6.02e+23\n",
    "t: true\nf: False\ny: yes\nn: no\non: on\nnull1: null\nnull2: ~\nnull3:\n",
    "when: 2024-01-02\nat: 2024-01-02 10:20:30.5+02:00\n",
    "quoted: '123'\ndouble: \"true\"\nplain: 12:30\nempty: ''\n",
    "block: |\n  line one\n  line two\nfolded: >\n  a\n  b\nkeep: |+\n  x\n\n",
    "unicode: café ✓ 😀\nescaped: \"\\u00e9\\U0001F600\\t\"\n",
    "dup: 1\ndup: 2\n",
    "list:\n- 1\n- [a, {b: c}]\n- {}\n- []\n",
    "1: int key\n2.5: float key\nnull: null key\ntrue: bool key\n",
    "nested: {a: {b: {c: [1, 2, {d: e}]}}}\n",
    "version: 1\ninteractions:\n- request:\n    body:\n      json: {model: m, messages: [{role: user, content: 'hi: there'}]}\n",
]
# What the event reader leaves to yaml.load: anchors and aliases, tags, merge keys; and errors.
FALLBACK = [
    "a: &x [1, 2]\nb: *x\n",
    "base: &b {k: v}\nm: {<<: *b, j: w}\n",
    "s: !!str 123\nb: !!binary aGk=\nf: !!float '1'\n",
    "s: !!set {a, b}\n",
]


@pytest.mark.parametrize("text", SAMPLES + FALLBACK)
def test_the_event_reader_gives_what_yaml_load_gives(text):
    expected = yaml.load(text, Loader=yaml.CSafeLoader)
    got = load_cassette_yaml(text)
    assert got == expected
    assert repr(got) == repr(expected)  # the same types too (1 is not 1.0 or True)


def test_timestamps_are_constructed_as_yaml_load_does():
    data = load_cassette_yaml("d: 2024-01-02\n")
    assert data == {"d": dt.date(2024, 1, 2)}


@pytest.mark.parametrize("text", ["a: [1, 2\n", "a: b: c\n", "- a\nb: c\n", "{[a]: 1}\n", "a: 1\n---\nb: 2\n",
                                  "x: *nowhere\n", "\tbad: tab\n", "v: =\n"])  # fmt: skip
def test_invalid_yaml_raises_what_yaml_load_raises(text):
    with pytest.raises(yaml.YAMLError) as expected:
        yaml.load(text, Loader=yaml.CSafeLoader)
    with pytest.raises(yaml.YAMLError) as got:
        load_cassette_yaml(text)
    assert type(got.value) is type(expected.value) and str(got.value) == str(expected.value)
