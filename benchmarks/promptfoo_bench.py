"""Optional side-by-side: the same single-turn workload through promptfoo, from the npm registry.

promptfoo is installed once into a cache folder with ``npm install --ignore-scripts``
(no install script runs, so nothing but registry packages is fetched); when npm is
missing or the install or a trial run fails, the row is skipped. Multi-turn
workloads have no promptfoo equivalent here and are skipped too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from workload import MODEL, PARAMS, SYSTEM, token, user_text

VERSION = "0.121"
CACHE = Path(tempfile.gettempdir()) / f"harness-bench-promptfoo-{VERSION}"
ENV = {"PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1", "PROMPTFOO_DISABLE_SHARING": "1",
       "NO_COLOR": "1"}  # fmt: skip


def _bin(folder: Path) -> Path:
    return folder / "node_modules" / ".bin" / "promptfoo"


def install_promptfoo(required: bool, log: Callable[[str], None]) -> Path | None:
    """The folder holding promptfoo (installed on first use), or None to skip its rows."""

    def skip(why: str) -> None:
        if required:
            raise SystemExit(f"promptfoo: {why}")
        log(f"promptfoo: skipped ({why})")

    if not shutil.which("npm") or not shutil.which("node"):
        return skip("npm or node not found")
    if not _bin(CACHE).exists():
        log(f"promptfoo: installing promptfoo@{VERSION} into {CACHE} (npm install --ignore-scripts)")
        CACHE.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["npm", "install", f"promptfoo@{VERSION}", "--ignore-scripts", "--no-audit", "--no-fund",
                               "--loglevel=error"], cwd=CACHE, capture_output=True, text=True, timeout=1200)  # fmt: skip
        if proc.returncode != 0 or not _bin(CACHE).exists():
            return skip(f"npm install failed: {proc.stderr.strip()[-300:]}")
    proc = subprocess.run([str(_bin(CACHE)), "--version"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **ENV})  # fmt: skip
    if proc.returncode != 0:
        return skip(f"`promptfoo --version` failed: {proc.stderr.strip()[-300:]}")
    log(f"promptfoo: {proc.stdout.strip()}")
    return CACHE


def promptfoo_command(folder: Path, wdir: Path, base_url: str, cases: int, turns: int, concurrency: int) -> list[str] | None:
    """Write a promptfoo config for the workload; the command that evaluates it (no cache, no database)."""
    if turns != 1:
        return None
    prompt = json.dumps([{"role": "system", "content": SYSTEM}, {"role": "user", "content": user_text("{{token}}", 1)}])
    tests = [{"vars": {"token": token(c, 1)}, "assert": [{"type": "contains", "value": token(c, 1)}, {"type": "is-json"}]}
             for c in range(cases)]  # fmt: skip
    config = {
        "prompts": [prompt],
        "providers": [{"id": f"openai:chat:{MODEL}", "config": {"apiBaseUrl": base_url, "apiKey": "sk-bench", **PARAMS}}],
        "tests": tests,
    }
    path = wdir / "promptfooconfig.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    # promptfoo exits 100 when a test fails; the driver treats any non-zero exit as a broken run.
    return ["env", *(f"{k}={v}" for k, v in ENV.items()), str(_bin(folder)), "eval", "-c", str(path), "--no-cache",
            "--no-write", "--no-table", "--no-progress-bar", "-j", str(concurrency), "-o", str(wdir / "promptfoo.json")]  # fmt: skip
