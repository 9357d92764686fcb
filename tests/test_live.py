"""Opt-in: the shipped examples against a real OpenAI-compatible server.

Skipped unless HARNESS_LIVE_BASE_URL names one, e.g. the llama.cpp server that
`scripts/start-llama-server.sh` starts:

    HARNESS_LIVE_BASE_URL=$(scripts/start-llama-server.sh) python -m pytest -m live
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

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not LIVE_URL, reason="set HARNESS_LIVE_BASE_URL to a live OpenAI-compatible server to run"),
]


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


def test_examples_record_live_and_replay_identically(tmp_path, monkeypatch):
    shutil.copytree(REPO / "evals", tmp_path / "evals")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    recorded = main(["run", "evals", "--cassettes", "record", "--base-url", LIVE_URL, "--concurrency", "1",
                     "--out", "live", "-q"])  # fmt: skip
    assert recorded in (0, 1), "the live server must answer every request"
    files = sorted(p.relative_to(tmp_path / "cassettes") for p in (tmp_path / "cassettes").rglob("*.yaml"))
    assert files, "recording wrote no cassette"
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    replayed = main(["run", "evals", "--out", "replay", "-q"])
    assert replayed == recorded
    assert outcomes(tmp_path / "replay/results.json") == outcomes(tmp_path / "live/results.json")
