"""The workflows in .github/workflows, run: every `run:` step in order, for three pull requests.

A project repository is made in a temporary folder (a suite, its cassettes
recorded from the fake server) with a base commit and a pull request on top;
the workflows' steps run against it with the environment Actions gives them
(tests/github_actions.py). What the test checks is what a maintainer sees:
the job's exit code, the job summary and the pull-request comment.

`ci.yml` is not run here: it runs this very test suite (.ci/run), so running
it from a test would recurse; `.ci/run` validates it against the schema. The
first test checks that the workflow triggers on every file the shipped suites read.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from harness.cli.main import main
from harness.suites.planning import load_plans
from tests import github_actions
from tests.conftest import FAKE_KEY

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github/workflows"
GATE = WORKFLOWS / "prompt-regression.yml"
RECORD = WORKFLOWS / "record-cassettes.yml"

SUITE = """
suite: support
model: fake-model
params: {temperature: 0}
system: "You are a support agent. [[reply:Please restart the router.]]"
cases:
  - id: wifi-drops
    turns:
      - user: "My Wi-Fi drops."
        expect: [{contains: restart}]
      - user: "Still broken."
        expect: [{contains: router}]
  - id: greeting
    turns:
      - user: "Hello [[reply:Hi! How can I help?]]"
        expect: [{contains: help}]
"""
BASE_SYSTEM = "You are a support agent. [[reply:Please restart the router.]]"



def _matches(pattern: str, path: str) -> bool:
    """GitHub's path filter globs: `**` crosses folders, `*` does not."""
    regex = re.escape(pattern).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
    return re.fullmatch(regex, path) is not None


def test_the_regression_workflow_runs_when_anything_a_suite_reads_changes(monkeypatch):
    monkeypatch.chdir(ROOT)
    workflow = yaml.safe_load((ROOT / ".github/workflows/prompt-regression.yml").read_text())
    paths = workflow[True]["pull_request"]["paths"]  # YAML 1.1 reads the key `on` as true
    suites, plans = load_plans(["evals/"])
    read = {str(Path(s.path)) for s in suites} | {str(f.relative_to(ROOT)) for s in suites for f in s.files}
    assert any("prompts/" in f for f in read) and any(f.endswith(".csv") for f in read)  # the example reads both
    read |= {str(p.relative_to(ROOT)) for p in (ROOT / "cassettes").rglob("*.yaml")}
    unmatched = sorted(f for f in read if not any(_matches(p, f) for p in paths))
    assert unmatched == [], f"{unmatched} can change a run but do not trigger .github/workflows/prompt-regression.yml"
    assert not any(_matches(p, "docs/suites.md") for p in paths)  # the filter still filters


class FakeGitHub:
    """The three REST calls the comment step makes: list, create and update issue comments."""

    def __init__(self) -> None:
        self.comments: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> dict[str, Any]:
                return json.loads(self.rfile.read(int(self.headers["content-length"])))

            def do_GET(self) -> None:
                outer.calls.append(("GET", self.path))
                assert self.headers["authorization"] == "Bearer ghs_test-token"
                page = int(parse_qs(urlparse(self.path).query).get("page", ["1"])[0])
                self._send(200, outer.comments[(page - 1) * 100 : page * 100])

            def do_POST(self) -> None:
                outer.calls.append(("POST", self.path))
                n = len(outer.comments) + 1
                comment = {"id": n, "body": self._body()["body"], "url": f"{outer.url}/repos/acme/prompts/issues/comments/{n}",
                           "html_url": f"https://github.example/acme/prompts/pull/7#issuecomment-{n}"}  # fmt: skip
                outer.comments.append(comment)
                self._send(201, comment)

            def do_PATCH(self) -> None:
                outer.calls.append(("PATCH", self.path))
                comment = next(c for c in outer.comments if self.path.endswith(f"/comments/{c['id']}"))
                comment["body"] = self._body()["body"]
                self._send(200, comment)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def harness(repo: Path, *args: str) -> int:
    """The real CLI, in-process, from the project's root (as a developer runs it)."""
    cwd = Path.cwd()
    os.chdir(repo)
    try:
        return main([*args, "-q"])
    finally:
        os.chdir(cwd)


def shim(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/usr/bin/env bash\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


class Project:
    """A prompt project under git, with its cassettes recorded from the fake server, on `main`."""

    def __init__(self, root: Path, server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.repo = root / "repo"
        self.repo.mkdir(parents=True)
        self.url = server_url
        self.monkeypatch = monkeypatch
        git(self.repo, "init", "-q", "-b", "main")
        git(self.repo, "config", "user.name", "Dana")
        git(self.repo, "config", "user.email", "dana@example.com")
        git(self.repo, "config", "receive.denyCurrentBranch", "ignore")  # the record workflow pushes a branch
        (self.repo / "evals").mkdir()
        (self.repo / "evals/support.yaml").write_text(textwrap.dedent(SUITE).lstrip())
        assert self.record() == 0
        self.commit("Support suite and its cassettes")
        self.base = git(self.repo, "rev-parse", "HEAD")

    def record(self) -> int:
        self.monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
        try:
            return harness(self.repo, "run", "evals/", "--cassettes", "record-missing", "--base-url", self.url,
                           "--out", str(self.repo.parent / "recording"))
        finally:
            self.monkeypatch.delenv("OPENAI_API_KEY")

    def commit(self, message: str) -> str:
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-q", "-m", message)
        return git(self.repo, "rev-parse", "HEAD")

    def pull_request(self, branch: str, system: str, rerecord: bool) -> str:
        git(self.repo, "checkout", "-q", "-b", branch, self.base)
        suite = self.repo / "evals/support.yaml"
        suite.write_text(suite.read_text().replace(BASE_SYSTEM, system))
        if rerecord:
            self.record()
        head = self.commit(f"Edit the system prompt ({branch})")
        git(self.repo, "checkout", "-q", "main")
        return head

    def changed(self, head: str) -> list[str]:
        return git(self.repo, "diff", "--name-only", self.base, head).splitlines()


@pytest.fixture
def setting(fake_server, tmp_path, monkeypatch) -> Iterator[tuple[Project, FakeGitHub, dict[str, str]]]:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    project = Project(tmp_path, fake_server.base_url, monkeypatch)
    shims = tmp_path / "shims"
    shims.mkdir()
    # The project is a user's repository, not prompt-harness: the harness under test is already installed.
    shim(shims, "pip", 'echo "pip $* (test shim: prompt-harness is installed in the test\'s environment)"\n')
    shim(shims, "gh", f'printf "%s\\n" "$@" > "{tmp_path}/gh-call.txt"\necho https://github.example/pull/8\n')
    github = FakeGitHub()
    env = github_actions.environment([shims, Path(sys.executable).parent]) | {"GITHUB_API_URL": github.url}
    yield project, github, env
    github.close()


def play_gate(project: Project, env: dict[str, str], head: str, home: Path, branch: str) -> dict[str, github_actions.Job]:
    workflow = github_actions.load(GATE)
    assert github_actions.triggered(workflow, "pull_request", project.changed(head))
    payload = {"pull_request": {"number": 7, "base": {"sha": project.base, "ref": "main"},
                                "head": {"sha": head, "ref": branch}},
               "repository": {"full_name": "acme/prompts"}}  # fmt: skip
    runner = github_actions.Runner(GATE, project.repo, home, "pull_request", payload, sha=head,
                                   ref="refs/pull/7/merge", env=env, variables={"PROMPT_HARNESS_COMMENT": "true"})  # fmt: skip
    return runner.run()


def test_a_clean_prompt_change_with_re_recorded_cassettes_passes_and_comments_once(setting, tmp_path):
    project, github, env = setting
    head = project.pull_request("warmer", "You are a warm support agent. [[reply:Please restart the router, friend.]]",
                                rerecord=True)  # fmt: skip
    jobs = play_gate(project, env, head, tmp_path / "run-1", "warmer")
    gate = jobs["regression"]
    assert gate.result == "success", [(s.name, s.code, s.output) for s in gate.steps]
    assert gate.step("Replay the head's cassettes").code == 0
    summary = gate.summary
    assert summary.startswith("### ✅ prompt-harness compare: 0 regressed")
    assert "Gate passed" in summary and "#### Changed (2)" in summary
    assert ("-You are a support agent. [[reply:Please restart the router.]]\n"
            "+You are a warm support agent. [[reply:Please restart the router, friend.]]") in summary  # fmt: skip
    assert str(tmp_path) not in summary

    comment = jobs["comment"]
    assert comment.result == "success" and comment.permissions == {"pull-requests": "write"}
    assert len(github.comments) == 1 and github.comments[0]["body"].endswith(summary)
    # another push: the same comment is updated, not a second one posted
    jobs = play_gate(project, env, head, tmp_path / "run-2", "warmer")
    assert jobs["comment"].result == "success"
    assert len(github.comments) == 1 and [c for c in github.calls if c[0] != "GET"] == [
        ("POST", "/repos/acme/prompts/issues/7/comments"), ("PATCH", "/repos/acme/prompts/issues/comments/1")]


def test_a_regression_fails_the_gate_with_exit_1_and_names_the_check(setting, tmp_path):
    project, _, env = setting
    head = project.pull_request("terse", "You are a support agent. [[reply:Please wait a minute.]]", rerecord=True)
    gate = play_gate(project, env, head, tmp_path / "run", "terse")["regression"]
    assert gate.result == "failure" and gate.code == 1
    step = gate.step("Gate on the head run, then on the comparison")
    assert "::error::harness compare failed the gate: a case regressed" in step.output
    assert "#### Regressed (1)" in gate.summary
    assert "turn 1 `contains` ✓ → ✗: expected reply to contain 'restart'" in gate.summary


def test_a_forgotten_re_record_says_so_with_exit_3_and_the_re_record_workflow_fixes_it(setting, tmp_path):
    project, _, env = setting
    head = project.pull_request("forgot", "You are a patient support agent. [[reply:Please restart the router.]]",
                                rerecord=False)  # fmt: skip
    gate = play_gate(project, env, head, tmp_path / "run", "forgot")["regression"]
    assert gate.result == "failure" and gate.code == 3  # not "found regressions"
    step = gate.step("Gate on the head run, then on the comparison")
    assert "::error::some cases could not be evaluated (exit 3): a cassette is stale or missing" in step.output
    summary = gate.summary
    assert summary.startswith("### ❌ prompt-harness compare: 2 need re-record, 0 regressed")
    command = ("harness run evals/support.yaml --case wifi-drops --case greeting --cassettes record-missing "
               f"--base-url {project.url}")  # fmt: skip
    assert f"```sh\n{command}\n```" in summary
    assert "Regressed" not in summary and "removed" not in summary

    # The fix, by hand from the workflow's re-record workflow: it records, pushes a branch and opens a pull request.
    git(project.repo, "checkout", "-q", "forgot")
    record = github_actions.Runner(
        RECORD, project.repo, tmp_path / "record", "workflow_dispatch", {"repository": {"full_name": "acme/prompts"}},
        sha=head, ref="refs/heads/forgot", env=env, secrets={"OPENAI_API_KEY": FAKE_KEY},
        inputs={"paths": "evals/", "mode": "record-missing", "case": "", "base_url": project.url,
                "open_pull_request": True},
    ).run()["record"]  # fmt: skip
    git(project.repo, "checkout", "-q", "main")
    assert record.result == "success", [(s.name, s.code, s.output) for s in record.steps]
    gh = (tmp_path / "gh-call.txt").read_text()
    assert "--head\ncassettes/4242\n" in gh
    assert "does not trigger other workflows" in gh and "does not trigger other workflows" in record.summary
    fixed = git(project.repo, "rev-parse", "cassettes/4242")
    assert {p for p in project.changed(fixed)} == {"evals/support.yaml", "cassettes/support/wifi-drops.yaml",
                                                    "cassettes/support/greeting.yaml"}  # fmt: skip
    for path in (project.repo / ".git").rglob("*"):
        assert not path.is_file() or FAKE_KEY.encode() not in path.read_bytes()
    again = play_gate(project, env, fixed, tmp_path / "run-fixed", "cassettes/4242")["regression"]
    assert again.result == "success", again.summary
    assert "#### Changed (2)" in again.summary
