"""Shared fixtures: the fake OpenAI server and a way to run the real CLI in-process."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.cli.main import main
from tests.fake_openai import FakeOpenAI

FAKE_KEY = "sk-test-SECRET-4f1c9e7d2b8a6035"


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def results(self, out_dir: Path) -> dict:
        return json.loads((out_dir / "results.json").read_text())


@pytest.fixture
def harness_cli(capsys, monkeypatch, tmp_path):
    """Run `harness ARGS...` in-process with a clean environment and the cwd at tmp_path."""
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def write_suite(tmp_path):
    """Write a suite file from a dedented YAML string; returns its path."""

    def write(text: str, name: str = "suite.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return write
