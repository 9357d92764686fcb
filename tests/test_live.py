"""Opt-in: the shipped examples against real OpenAI-compatible servers.

Skipped unless HARNESS_LIVE_BASE_URL names one, e.g. the llama.cpp server that
`scripts/start-llama-server.sh` starts. The Responses API examples (`api:
responses`) need a server with /v1/responses: LiteLLM's proxy in front of it
(`scripts/start-litellm-proxy.sh`), named by HARNESS_LIVE_RESPONSES_BASE_URL:

    HARNESS_LIVE_BASE_URL=$(scripts/start-llama-server.sh) \
    HARNESS_LIVE_RESPONSES_BASE_URL=$(scripts/start-litellm-proxy.sh) python -m pytest -m live
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from harness.cli.main import main

REPO = Path(__file__).resolve().parent.parent
LIVE_URL = os.environ.get("HARNESS_LIVE_BASE_URL")
RESPONSES_URL = os.environ.get("HARNESS_LIVE_RESPONSES_BASE_URL")
# The proxy's own local master key (scripts/start-litellm-proxy.sh's default), not an OpenAI key.
RESPONSES_KEY = os.environ.get("HARNESS_LIVE_RESPONSES_API_KEY", "sk-local-prompt-harness")

pytestmark = pytest.mark.live


def outcomes(path: Path) -> dict:
    data = json.loads(path.read_text())
    return {
        (c["suite"], c["id"], c["repeat"]): (
            c["status"],
            [[(k["name"], k["passed"], k["reason"]) for k in t["checks"]] for t in c["turns"]],
            [t["reply"] and (t["reply"]["content"], t["reply"]["finish_reason"], t["reply"]["usage"]) for t in c["turns"]],
        )
        for c in data["cases"]
    }


def _examples(tmp_path: Path, responses: bool) -> Path:
    """A copy of evals/ holding only the Chat Completions suites, or only the Responses API ones."""
    folder = tmp_path / "evals"
    shutil.copytree(REPO / "evals", folder)  # with the prompt and data files the suites read
    for suite in folder.glob("*.yaml"):
        if ("\napi: responses" in "\n" + suite.read_text()) != responses:
            suite.unlink()
    return folder


def _record_then_replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.chdir(tmp_path)
    # A generous --timeout, as scripts/record-examples.sh uses: on a busy machine one CPU-bound reply can take minutes.
    recorded = main(["run", "evals", "--cassettes", "record", "--base-url", url, "--concurrency", "1",
                     "--timeout", "300", "--out", "live"])  # fmt: skip
    assert recorded in (0, 1), "the live server must answer every request"
    files = sorted(p.relative_to(tmp_path / "cassettes") for p in (tmp_path / "cassettes").rglob("*.yaml"))
    assert files, "recording wrote no cassette"
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    replayed = main(["run", "evals", "--out", "replay", "-q"])
    assert replayed == recorded
    assert outcomes(tmp_path / "replay/results.json") == outcomes(tmp_path / "live/results.json")


@pytest.mark.skipif(not LIVE_URL, reason="set HARNESS_LIVE_BASE_URL to a live OpenAI-compatible server to run")
def test_examples_record_live_and_replay_identically(tmp_path, monkeypatch):
    _examples(tmp_path, responses=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _record_then_replay(tmp_path, monkeypatch, LIVE_URL)


@pytest.mark.skipif(not RESPONSES_URL, reason="set HARNESS_LIVE_RESPONSES_BASE_URL to a server with /v1/responses")
def test_responses_examples_record_live_and_replay_identically(tmp_path, monkeypatch):
    _examples(tmp_path, responses=True)
    monkeypatch.setenv("OPENAI_API_KEY", RESPONSES_KEY)
    _record_then_replay(tmp_path, monkeypatch, RESPONSES_URL)
