"""The manual says what the code does: keys the examples use are documented, and the first-suite walkthrough is whole."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_every_request_parameter_the_examples_use_is_documented():
    """`tools:` inside `params:` drove evals/tools.yaml and was documented nowhere."""
    suites_doc = (ROOT / "docs/suites.md").read_text()
    used: set[str] = set()
    for path in sorted((ROOT / "evals").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        used |= set(data.get("params") or {})
        for case in data.get("cases") or []:
            used |= set(case.get("params") or {})
    assert {"tools", "tool_choice"} <= used
    missing = [key for key in sorted(used) if f"`{key}`" not in suites_doc]
    assert not missing, f"params used in evals/ but not in docs/suites.md: {missing}"
    section = suites_doc.split("## Tools", 1)[1].split("\n## ", 1)[0]
    assert "params:" in section and "tools:" in section and "tool_results:" in section and "tool_call:" in section


def test_the_first_suite_walkthrough_goes_from_nothing_to_a_comparison():
    page = (ROOT / "docs/first-suite.md").read_text()
    assert "(docs/first-suite.md)" in (ROOT / "README.md").read_text()
    commands = re.findall(r"^\$ (.+)$", page, re.M)
    steps = [
        r"^mkdir ",
        r"^harness validate ",
        r"^harness run .*--cassettes record-missing",
        r"^harness run evals/ --out base",
        r"^harness run evals/ --out head",
        r"^harness compare base head",
    ]
    position = 0
    for step in steps:
        found = next((i for i, c in enumerate(commands[position:], position) if re.search(step, c)), None)
        assert found is not None, f"no `$ {step}` after `$ {commands[position - 1] if position else ''}`"
        position = found + 1
    blocks = re.findall(r"```(?:console|sh)\n(.*?)```", page, re.S)
    for block in blocks:
        lines = block.strip().splitlines()
        if lines and lines[0].startswith("$ harness run") or lines and lines[0].startswith("$ harness compare"):
            assert len(lines) > 1, f"`{lines[0]}` is shown without its output"
