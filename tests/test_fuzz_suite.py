"""Bad input never crashes: every suite file either loads or gives the exit-2 SuiteError naming the file.

Hypothesis throws random YAML documents (suite-shaped and not), wrong types in
every slot, deep nesting, huge strings, YAML tags and aliases, binary garbage
and non-UTF-8 bytes at the loader. Bad results files and cassettes get a clear
message naming the file, too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.assertions import REGISTRY
from harness.core.problems import SuiteError
from harness.core.result import ResultFileError, load_run
from harness.suites.loading import load_suites
from harness.suites.planning import load_plans
from harness.suites.schema import CASE_KEYS, SUITE_KEYS, TURN_KEYS

# Fixed examples by default (the same in CI every time); HARNESS_FUZZ_EXAMPLES=5000 explores afresh.
_EXAMPLES = int(os.environ.get("HARNESS_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_EXAMPLES or 150, deadline=None, suppress_health_check=list(HealthCheck),
                derandomize=not _EXAMPLES, database=None)  # fmt: skip

TRICKY_TEXT = ["{{ x }}", "{{ customer }}", "{% include 'x.yaml' %}", "{% import '/etc/passwd' as p %}",
               "{{ 1 / 0 }}", "{{ ''.__class__.__mro__ }}", "{{ x | int }}", "{% for %}", "{{", "[[reply:hi]]",
               "~", "0x1F", ".nan", "-.inf", "1e999", "null", "yes", "\x00", "\ufeff", "é" * 3, "\u202e"]  # fmt: skip
KEYS = sorted(SUITE_KEYS | CASE_KEYS | TURN_KEYS | {"role", "content", "rpm", "tpm", "max_retries", "timeout", "window",
                                                     "strategy", "input", "output", "name", "path"})  # fmt: skip
CHECKS = sorted(REGISTRY) + [f"not_{n}" for n in sorted(REGISTRY)[:5]] + ["contain", "bogus"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30), st.sampled_from(TRICKY_TEXT),
)  # fmt: skip
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner,
                                                                  max_size=4),
    max_leaves=16,
)  # fmt: skip


def maybe(right: st.SearchStrategy) -> st.SearchStrategy:
    """Usually the right type, sometimes anything at all."""
    return st.one_of(right, right, anything)


text = st.text(max_size=40) | st.sampled_from(TRICKY_TEXT)
check = st.dictionaries(st.sampled_from(CHECKS), anything, min_size=1, max_size=2)
turn = st.fixed_dictionaries({}, optional={
    "user": maybe(text), "expect": maybe(st.lists(maybe(check), max_size=3)),
    "tool_results": maybe(st.dictionaries(text, text, max_size=2)), "budget": anything,
})  # fmt: skip
message = st.fixed_dictionaries({}, optional={"role": maybe(st.sampled_from(["user", "assistant", "system", "tool", "x"])),
                                              "content": maybe(text), "tool_calls": anything})  # fmt: skip
case = st.fixed_dictionaries({}, optional={
    "id": maybe(text), "turns": maybe(st.lists(maybe(turn), max_size=3)), "vars": maybe(st.dictionaries(text, anything)),
    "messages": maybe(st.lists(maybe(message), max_size=2)), "params": maybe(st.dictionaries(st.sampled_from(KEYS) | text, anything, max_size=3)),
    "system": maybe(text), "model": maybe(text), "fail_on_length": anything, "budget": anything,
    "context": anything, "encoding": maybe(st.sampled_from(["o200k_base", "cl100k_base", "nope"])),
    "description": anything,
})  # fmt: skip
suite_doc = st.fixed_dictionaries({}, optional={
    "suite": maybe(text), "model": maybe(text), "params": maybe(st.dictionaries(st.sampled_from(KEYS) | text, anything, max_size=3)),
    "system": maybe(text), "vars": maybe(st.dictionaries(text, anything, max_size=3)), "cases": maybe(st.lists(maybe(case), max_size=4)),
    "fail_on_length": anything, "retry": anything, "rate_limit": anything, "budget": anything, "context": anything,
    "pricing": anything, "pricing_file": maybe(st.sampled_from(["prices.yaml", "../../../etc/passwd", "/dev/zero", ".", "a\x00b"])),
    "encoding": anything, "description": anything,
})  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def loads_or_reports(path: Path) -> None:
    """The contract: plans come back, or SuiteError with problems that each name the file."""
    try:
        load_plans([str(path)])
    except SuiteError as e:
        assert e.problems
        for p in e.problems:
            assert str(p).startswith(f"{path}:"), str(p)


def write(fuzz_dir: Path, data: bytes | str, name: str = "suite.yaml") -> Path:
    path = fuzz_dir / name
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    path.write_bytes(data)
    return path


@FUZZ
@given(doc=suite_doc)
def test_suite_shaped_documents_with_wrong_types_anywhere(doc, fuzz_dir):
    loads_or_reports(write(fuzz_dir, yaml.safe_dump(doc, allow_unicode=True)))


@FUZZ
@given(doc=suite_doc, cut=st.integers(min_value=0), junk=st.text(max_size=5))
def test_suite_documents_corrupted_at_a_random_point(doc, cut, junk, fuzz_dir):
    text = yaml.safe_dump(doc, allow_unicode=True)
    at = cut % (len(text) + 1)
    loads_or_reports(write(fuzz_dir, text[:at] + junk + text[at + len(junk):]))


@FUZZ
@given(doc=anything)
def test_any_yaml_document(doc, fuzz_dir):
    loads_or_reports(write(fuzz_dir, yaml.safe_dump(doc, allow_unicode=True)))


@FUZZ
@given(raw=st.binary(max_size=300))
def test_binary_garbage(raw, fuzz_dir):
    loads_or_reports(write(fuzz_dir, raw))


@FUZZ
@given(pieces=st.lists(st.sampled_from(list(":-[]{}&*!|>'\"%@`#,?\n \t\\abc01") + [
    "!!binary ", "!!set ", "!!python/object:os.system ", "<<", "&a ", "*a", "!!timestamp ", "!!float ", "---\n",
    "...\n", "model: m\n", "cases:\n", "  - id: ", "turns: ", "user: ", "expect: ", "{{ x }}"]), max_size=60))  # fmt: skip
def test_yaml_syntax_soup(pieces, fuzz_dir):
    loads_or_reports(write(fuzz_dir, "".join(pieces)))


@pytest.mark.parametrize("name, data", [
    ("deep-lists", "[" * 5000 + "]" * 5000),
    ("deep-maps", "a: " + "{a: " * 3000 + "1" + "}" * 3000),
    ("deep-block", "".join("  " * i + "a:\n" for i in range(400)) + "  " * 400 + "b\n"),
    ("deep-in-vars", "model: m\nvars: {x: " + "[" * 200 + "]" * 200 + "}\ncases: [{id: a, turns: [{user: hi}]}]\n"),
    ("huge-string", "model: m\ncases: [{id: a, turns: [{user: '" + "x" * 5_000_000 + "'}]}]\n"),
    ("huge-key", "model: m\n" + "k" * 1_000_000 + ": 1\ncases: [{id: a, turns: [{user: hi}]}]\n"),
    ("many-cases", "model: m\ncases:\n" + "".join(f"  - {{id: c{i}}}\n" for i in range(20000))),
    ("latin-1", "model: m\ncases: [{id: caf\xe9, turns: [{user: hi}]}]\n".encode("latin-1")),
    ("utf-16", "model: m\ncases: [{id: a, turns: [{user: hi}]}]\n".encode("utf-16")),
    ("bom", "\ufeffmodel: m\ncases: [{id: a, turns: [{user: hi}]}]\n"),
    ("nul", "model: m\x00\ncases: []\n"),
    ("empty", ""),
    ("only-comment", "# nothing\n"),
    ("two-documents", "model: m\n---\nmodel: n\n"),
    ("python-tag", "model: !!python/object/apply:os.system ['echo pwned']\ncases: []\n"),
    ("binary-tag", "model: m\ncases: [{id: !!binary aGk=, turns: [{user: !!binary aGk=}]}]\n"),
    ("set-and-time", "model: m\nvars: {s: !!set {a, b}, t: 2024-01-01 10:00:00}\n"
                     "cases: [{id: a, turns: [{user: '{{ s }} {{ t }}'}]}]\n"),
    ("non-string-keys", "model: m\nvars: {1: a, null: b, 2.5: c, true: d}\ncases: [{id: 7, turns: [{user: '{{ x }}'}]}]\n"),
    ("int-overflow", "model: m\nretry: {max_retries: 99999999999999999999999999, timeout: 1e999}\n"
                     "rate_limit: {rpm: .nan}\ncases: [{id: a, turns: [{user: hi}]}]\n"),
    ("merge-keys", "base: &b {user: hi}\nmodel: m\ncases: [{id: a, turns: [{<<: *b, <<: *b}]}]\n"),
    ("bad-merge", "model: m\ncases: [{id: a, turns: [{<<: [1, 2]}]}]\n"),
    ("alias-bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))),
    ("recursive-alias", "a: &a [*a]\n"),
    ("escape-past-unicode", 'model: "\\U00110000"\ncases: []\n'),
    ("escape-overflow", 'model: "\\UFFFFFFFF"\ncases: []\n'),
])  # fmt: skip
def test_pathological_files(name, data, fuzz_dir):
    loads_or_reports(write(fuzz_dir, data, f"{name}.yaml"))


def test_pathological_files_through_the_cli_are_exit_2_without_a_traceback(harness_cli, write_suite, tmp_path):
    (tmp_path / "garbage.yaml").write_bytes(b"\xff\xfe\x00garbage\x80")
    (tmp_path / "deep.yaml").write_text("[" * 5000 + "]" * 5000)
    (tmp_path / "bomb.yaml").write_text("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)))  # fmt: skip
    for name in ("garbage.yaml", "deep.yaml", "bomb.yaml"):
        r = harness_cli("validate", name)
        assert r.code == 2 and r.err.startswith(f"error: {name}:") and "Traceback" not in r.err, r.err


def test_unreadable_suite_file_names_the_file(harness_cli, tmp_path, monkeypatch):
    suite = tmp_path / "locked.yaml"
    suite.write_text("model: m\ncases: [{id: a, turns: [{user: hi}]}]\n")
    real = Path.read_bytes

    def denied(self):
        if self.name == "locked.yaml":  # root ignores chmod 000, so the permission error is simulated
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    r = harness_cli("run", "locked.yaml")
    assert r.code == 2
    assert "error: locked.yaml:1:1: cannot read file: Permission denied" in r.err


def test_a_folder_named_like_a_suite_is_not_a_crash(harness_cli, tmp_path):
    (tmp_path / "x.yaml").mkdir()
    r = harness_cli("validate", "x.yaml")
    assert r.code == 2 and "error: x.yaml: folder holds no *.yaml or *.yml suite files" in r.err
    (tmp_path / "evals/inner.yaml").mkdir(parents=True)  # found while searching a folder: skipped, not read
    (tmp_path / "evals/real.yaml").write_text("model: m\ncases: [{id: a, turns: [{user: hi}]}]\n")
    assert harness_cli("validate", "evals").code == 0


def test_load_suites_on_a_file_that_vanished(tmp_path):
    with pytest.raises(SuiteError) as info:
        load_suites([tmp_path / "gone.yaml"])
    assert f"{tmp_path / 'gone.yaml'}: no such file or folder" in str(info.value)


@pytest.mark.parametrize("content, message", [
    ('{"schema_version": 1, "cases": [{"suite": "s", "id": "a", "stat', "not valid JSON"),
    ('{"schema_version": 99, "cases": []}', "schema_version 99 is newer than this harness understands"),
    ('{"cases": []}', "missing or invalid 'schema_version'"),
    ('[1, 2, 3]', "not a prompt-harness results file"),
    ('{"schema_version": 1, "cases": [{"id": "a"}]}', "malformed case entry"),
    (b"\xff\xfe\x00\x01", "cannot read results file"),
])  # fmt: skip
def test_bad_results_files_name_the_file(content, message, tmp_path):
    path = tmp_path / "results.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ResultFileError) as info:
        load_run(path)
    assert str(info.value).startswith(str(path)) and message in str(info.value)


def test_a_results_file_truncated_by_a_crash_mid_write_cannot_exist(fake_server, harness_cli, write_suite, tmp_path,
                                                                    monkeypatch):  # fmt: skip
    """results.json is replaced by rename: a write that dies leaves the previous file whole."""
    suite = write_suite("model: m\ncases: [{id: a, turns: [{user: hi}]}]\n")
    harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    before = (tmp_path / "reports/latest/results.json").read_text()

    real_fdopen = os.fdopen

    class DiesHalfWay:
        """The results file's temporary file: the disk fills up after 50 characters, whatever writes them."""

        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, text):
            if self.written + len(text) > 50:
                self.f.write(text[: 50 - self.written])
                raise OSError(28, "No space left on device")
            self.written += len(text)
            return self.f.write(text)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

    def fdopen(fd, *args, **kwargs):
        f = real_fdopen(fd, *args, **kwargs)
        return DiesHalfWay(f) if "/.results.json." in os.readlink(f"/proc/self/fd/{fd}") else f

    monkeypatch.setattr(os, "fdopen", fdopen)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 2 and "No space left on device" in r.err and "Traceback" not in r.err  # said, not raised
    assert (tmp_path / "reports/latest/results.json").read_text() == before
    assert not list((tmp_path / "reports/latest").glob(".*.tmp"))


def test_a_hand_edited_invalid_cassette_is_an_error_naming_the_file(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("suite: s\nmodel: m\ncases: [{id: a, turns: [{user: hi}]}, {id: b, turns: [{user: hi}]}]\n")
    assert harness_cli("run", suite, "--cassettes", "record", "--base-url", fake_server.base_url, "-q").code == 0
    cassette = tmp_path / "cassettes/s/a.yaml"
    cassette.write_text(cassette.read_text().replace("interactions:", "interactions: [\n  - {", 1))
    r = harness_cli("run", suite, "-q")
    assert r.code == 3
    result = {c["id"]: c for c in r.results(tmp_path / "reports/latest")["cases"]}
    assert result["a"]["status"] == "error" and "cassettes/s/a.yaml:" in result["a"]["error"]
    assert "cassette is not valid YAML" in result["a"]["error"]
    assert result["b"]["status"] == "passed"
