"""Prompt files: `{file: path}` for message text and `{% include %}`, inside the project, through the real CLI.

harness/suites/project_files.py (where a suite may read) and harness/suites/templating.py (rendering files,
naming them, pointing errors at their lines); the fake OpenAI server shows what was actually sent.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from tests.test_report import embedded

SUITE = """
suite: desk
model: fake-model
vars: {product: Acme Router}
system: {file: prompts/system.md}
cases:
  - id: wifi
    vars: {customer: Dana}
    messages:
      - {role: user, content: {file: prompts/history.md}}
      - {role: assistant, content: "Hi! What is wrong?"}
    turns:
      - user: {file: prompts/ask.md}
        expect:
          - contains: Dana
"""


def project(tmp_path: Path, suite: str = SUITE, files: dict[str, str] | None = None) -> Path:
    """A project in tmp_path: evals/desk.yaml and its prompt files (``files`` adds or replaces some)."""
    defaults = {
        "evals/prompts/system.md": "You support {{ product }}.\n{% include 'prompts/footer.md' %}",
        "evals/prompts/footer.md": "Never promise refunds.\n",
        "evals/prompts/history.md": "Hello, I have a question.",
        "evals/prompts/ask.md": "I'm {{ customer }}. My Wi-Fi drops.",
    }
    for name, text in {**defaults, **(files or {})}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    suite_file = tmp_path / "evals/desk.yaml"
    suite_file.write_text(textwrap.dedent(suite).lstrip())
    return suite_file


def live(harness_cli, fake_server, *args: str):
    return harness_cli("run", "evals/", "--cassettes", "off", "--base-url", fake_server.base_url, "-q", *args)


def test_prompt_files_and_includes_are_rendered_and_sent(harness_cli, fake_server, tmp_path):
    project(tmp_path)
    r = live(harness_cli, fake_server)
    assert r.code == 0, r.out + r.err
    (request,) = fake_server.requests
    assert request.body["messages"] == [
        {"role": "system", "content": "You support Acme Router.\nNever promise refunds.\n"},
        {"role": "user", "content": "Hello, I have a question."},
        {"role": "assistant", "content": "Hi! What is wrong?"},
        {"role": "user", "content": "I'm Dana. My Wi-Fi drops."},
    ]
    case = json.loads((tmp_path / "reports/latest/results.json").read_text())["cases"][0]
    assert case["prompt_files"] == {"system": ["evals/prompts/system.md", "evals/prompts/footer.md"],
                                    "messages[0]": ["evals/prompts/history.md"],
                                    "turn 1": ["evals/prompts/ask.md"]}  # fmt: skip


def test_an_inline_template_may_include_a_project_file_too(harness_cli, fake_server, tmp_path):
    project(tmp_path, SUITE.replace("{file: prompts/ask.md}", "\"{% include 'prompts/ask.md' %} Thanks.\""))
    assert live(harness_cli, fake_server).code == 0
    assert fake_server.requests[0].body["messages"][-1]["content"] == "I'm Dana. My Wi-Fi drops. Thanks."


def test_a_path_up_and_back_into_the_project_is_fine(harness_cli, fake_server, tmp_path):
    project(tmp_path, SUITE.replace("prompts/system.md", "../shared/system.md"), files={"shared/system.md": "Shared {{ product }}."})
    assert live(harness_cli, fake_server).code == 0
    assert fake_server.requests[0].body["messages"][0]["content"] == "Shared Acme Router."


ESCAPES = [
    pytest.param("../../outside.md", "is a path that leads outside the project", id="dot-dot"),
    pytest.param("/etc/hostname", "is absolute; write it relative to the suite file", id="absolute"),
    pytest.param("prompts/link.md", "is a symlink that leads outside the project", id="symlink"),
    pytest.param("prompts/nope.md", "does not exist (looked for evals/prompts/nope.md", id="missing"),
]


@pytest.mark.parametrize("path, message", ESCAPES)
def test_a_path_out_of_the_project_is_exit_2_with_its_location_and_nothing_sent(path, message, harness_cli,
                                                                                fake_server, tmp_path):  # fmt: skip
    outside = tmp_path.parent / f"{tmp_path.name}-outside.md"
    outside.write_text("TOP-SECRET")
    os.makedirs(tmp_path / "evals/prompts", exist_ok=True)
    (tmp_path / "evals/prompts/link.md").symlink_to(outside)
    project(tmp_path, SUITE.replace("prompts/system.md", path.replace("../../outside.md", f"../../{outside.name}")))
    r = live(harness_cli, fake_server)
    assert r.code == 2
    assert f"error: {Path('evals/desk.yaml')}:4:16: the prompt file path" in r.err or "prompt file" in r.err
    assert "evals/desk.yaml:4:16:" in r.err and message in r.err, r.err
    assert "(`system` in the suite)" in r.err
    assert "nothing was sent." in r.err and fake_server.requests == []
    assert "TOP-SECRET" not in r.out + r.err


@pytest.mark.parametrize("include, message", [
    pytest.param("../../x.md", "the included file path '../../x.md' is a path that leads outside the project",
                 id="dot-dot"),
    pytest.param("prompts/gone.md", "the included file 'prompts/gone.md' does not exist", id="missing"),
])  # fmt: skip
def test_an_include_out_of_the_project_is_exit_2_and_nothing_sent(include, message, harness_cli, fake_server, tmp_path):
    (tmp_path.parent / "x.md").write_text("TOP-SECRET")
    project(tmp_path, files={"evals/prompts/footer.md": f"{{% include '{include}' %}}"})
    r = live(harness_cli, fake_server)
    assert r.code == 2 and message in r.err, r.err
    assert "error: evals/prompts/footer.md:1: " in r.err and "(in case 'wifi')" in r.err
    assert fake_server.requests == [] and "TOP-SECRET" not in r.out + r.err


def test_template_errors_inside_prompt_files_point_at_their_line(harness_cli, fake_server, tmp_path):
    project(tmp_path, files={"evals/prompts/system.md": "Line one.\nYou support {{ prodcut }}.\n",
                             "evals/prompts/ask.md": "ok\n\n{% if %}\n"})
    r = live(harness_cli, fake_server)
    assert r.code == 2
    assert ("error: evals/prompts/system.md:2: template variable error: 'prodcut' is undefined; did you mean "
            "'product'? (in case 'wifi')") in r.err  # fmt: skip
    assert "error: evals/prompts/ask.md:3: template syntax error: Expected an expression" in r.err
    assert fake_server.requests == []


def test_an_error_in_an_included_file_points_at_the_included_file(harness_cli, fake_server, tmp_path):
    project(tmp_path, files={"evals/prompts/footer.md": "Fine.\nSigned, {{ agent }}\n"})
    r = live(harness_cli, fake_server)
    assert r.code == 2
    assert "error: evals/prompts/footer.md:2: template variable error: 'agent' is undefined" in r.err


def test_file_mapping_mistakes_are_reported_together(harness_cli, fake_server, tmp_path):
    project(tmp_path, SUITE.replace("{file: prompts/ask.md}", "{flie: prompts/ask.md}")
            .replace("content: {file: prompts/history.md}", "content: {file: prompts/history.md, mode: raw}"))
    r = live(harness_cli, fake_server)
    assert r.code == 2
    assert ("evals/desk.yaml:12:15: `user` in turn 1 of case 'wifi' must be text or `{file: path}` (a prompt file "
            "relative to the suite file), got a mapping") in r.err  # fmt: skip
    assert "evals/desk.yaml:9:58: unknown key 'mode' beside `file`" in r.err
    assert "2 problems found; nothing was sent." in r.err


def test_editing_a_prompt_file_makes_the_cassette_stale_with_the_usual_diff(harness_cli, fake_server, tmp_path):
    project(tmp_path)
    record = harness_cli("run", "evals/", "--cassettes", "record", "--base-url", fake_server.base_url, "-q")
    assert record.code == 0
    assert harness_cli("run", "evals/", "-q").code == 0  # replays
    (tmp_path / "evals/prompts/footer.md").write_text("Always promise refunds.\n")
    r = harness_cli("run", "evals/", "-q")
    assert r.code == 3
    error = json.loads((tmp_path / "reports/latest/results.json").read_text())["cases"][0]["error"]
    assert "messages[0] (system) changed:" in error
    assert "'You support Acme Router.\\nNever promise refunds.\\n' -> 'You support Acme Router.\\nAlways promise" in error
    assert "--case wifi --cassettes record-missing" in error


def test_diff_html_and_summary_name_the_prompt_file_that_changed(harness_cli, fake_server, tmp_path):
    project(tmp_path)
    assert live(harness_cli, fake_server, "--out", "base").code == 0
    (tmp_path / "evals/prompts/footer.md").write_text("Always promise refunds. [[reply:Sure, a refund.]]\n")
    assert live(harness_cli, fake_server, "--out", "head").code == 1
    r = harness_cli("compare", "base", "head", "--out", "cmp")
    assert r.code == 1  # the edit of the included file broke the case
    (change,) = embedded((tmp_path / "cmp/diff.html").read_text())["cases"][0]["pr"]
    assert change[0] == "system prompt" and change[1] == "changed"
    assert change[3] == ["evals/prompts/system.md", "evals/prompts/footer.md"]
    assert "system prompt changed (evals/prompts/system.md, evals/prompts/footer.md)" in (tmp_path / "cmp/summary.md").read_text()


def test_report_html_shows_where_each_message_came_from(harness_cli, fake_server, tmp_path):
    project(tmp_path)
    assert live(harness_cli, fake_server).code == 0
    (case,) = embedded((tmp_path / "reports/latest/report.html").read_text())["cases"]
    assert case["pf"]["turn 1"] == ["evals/prompts/ask.md"]


def test_validate_and_tokens_read_prompt_files_like_run(harness_cli, tmp_path):
    project(tmp_path)
    assert harness_cli("validate", "evals/").out.startswith("ok: 1 suite, 1 case, 1 turn")
    r = harness_cli("tokens", "evals/", "--json")
    assert r.code == 0 and json.loads(r.out)[0]["case"] == "wifi"


def test_a_variant_may_take_its_system_prompt_from_a_file(harness_cli, fake_server, tmp_path):
    project(tmp_path, SUITE.replace("cases:\n", "variants:\n  - {name: plain}\n  - {name: terse, system: {file: "
                                    "prompts/terse.md}}\ncases:\n"), files={"evals/prompts/terse.md": "Be terse about {{ product }}."})
    assert live(harness_cli, fake_server).code == 0
    systems = sorted(q.body["messages"][0]["content"] for q in fake_server.requests)
    assert systems == ["Be terse about Acme Router.", "You support Acme Router.\nNever promise refunds.\n"]


def test_a_mistake_in_a_prompt_file_many_cases_share_is_reported_once(harness_cli, tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts/bad.md").write_text("Hi {{ product }\n")
    (tmp_path / "s.yaml").write_text(textwrap.dedent("""\
        model: m
        system: {file: prompts/bad.md}
        variants: [{name: v1}, {name: v2}]
        cases:
          - {id: c1, turns: [{user: hi}]}
          - {id: c2, turns: [{user: hi}]}
          - {id: c3, turns: [{user: "{{ nope }}"}]}
    """))
    r = harness_cli("validate", "s.yaml")
    assert r.code == 2
    assert ("error: prompts/bad.md:1: template syntax error: unexpected '}' (in 6 cases: case 'c1' (variant 'v1'), "
            "case 'c1' (variant 'v2'), case 'c2' (variant 'v1') and 3 more)") in r.err  # fmt: skip
    assert r.err.count("unexpected '}'") == 1
