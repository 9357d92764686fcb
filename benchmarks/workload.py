"""The benchmark workload: N cases, each a system prompt and user turns with two checks.

One place defines the texts, so the generated suite (run by the harness) and
the floor script (the bare SDK) send byte-for-byte the same conversations.
Run as a script to write a suite: ``python benchmarks/workload.py OUT.yaml --cases 1000``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MODEL = "bench-model"
PRODUCT = "Acme Router"
SYSTEM_TEMPLATE = "You are a terse JSON service for {{ product }}. Reply with one JSON object holding the token you are given."
SYSTEM = SYSTEM_TEMPLATE.replace("{{ product }}", PRODUCT)
PARAMS = {"temperature": 0, "max_tokens": 50}


def token(case: int, turn: int) -> str:
    """The token case ``case`` asks for in turn ``turn`` (1-based)."""
    return f"tok-{case:05d}" if turn == 1 else f"tok-{case:05d}-{turn}"


def user_text(tok: str, turn: int) -> str:
    return f"Return the token {tok} as JSON." if turn == 1 else f"Turn {turn}: now return the token {tok} as JSON."


def user_template(turn: int) -> str:
    """The suite's user template; ``{{ token }}`` is a case var, so every case shares one compiled template."""
    return user_text("{{ token }}" if turn == 1 else "{{ token }}-" + str(turn), turn)


def suite_yaml(cases: int, turns: int = 1, name: str | None = None) -> str:
    """The suite file text, written directly (yaml.dump of 10,000 cases would dominate a quick run)."""
    name = name or f"bench-{cases}x{turns}"
    out = [
        f"suite: {name}",
        f"model: {MODEL}",
        "params: {temperature: 0, max_tokens: 50}",
        f'system: "{SYSTEM_TEMPLATE}"',
        f"vars: {{product: {PRODUCT}}}",
        "cases:",
    ]
    for c in range(cases):
        out.append(f"  - id: case-{c:05d}")
        out.append(f"    vars: {{token: {token(c, 1)}}}")
        out.append("    turns:")
        for t in range(1, turns + 1):
            out.append(f'      - user: "{user_template(t)}"')
            out.append("        expect:")
            out.append(f"          - contains: {token(c, t)}")
            out.append("          - is_json: true")
    return "\n".join(out) + "\n"


def write_suite(path: Path, cases: int, turns: int = 1, name: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(suite_yaml(cases, turns, name), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write an N-case benchmark suite.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=1)
    parser.add_argument("--name")
    args = parser.parse_args(argv)
    write_suite(args.out, args.cases, args.turns, args.name)
    print(f"wrote {args.out}: {args.cases:,} cases of {args.turns} turn{'s' if args.turns != 1 else ''} "
          f"({args.out.stat().st_size / 1e6:.1f} MB)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
