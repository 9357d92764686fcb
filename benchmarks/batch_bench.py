"""`harness run --batch` against the fake Batch API (tests/fake_openai.py), beside the same suite run live.

The fake server (its /v1/files and /v1/batches, tests/fake_batches.py) runs in this process; the harness
runs as a child whose wall time, CPU seconds and peak RSS are measured (os.wait4), alternating
`--batch` and a live run (`--cassettes off`) of the same suite against the same server. It reports
medians, the model requests the server answered and the batches the run created.

    python benchmarks/batch_bench.py                 # 1,000 single-turn cases, 3 runs each
    python benchmarks/batch_bench.py --cases 20 --repeats 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from tests.fake_openai import FakeOpenAI  # noqa: E402


def suite_yaml(cases: int) -> str:
    lines = ["suite: batch-bench", "model: gpt-4o-mini", "cases:"]
    for i in range(cases):
        lines += [f"  - id: case-{i:05d}", "    turns:", f"      - user: question tok-{i:05d}",
                  f"        expect: [{{contains: tok-{i:05d}}}]"]  # fmt: skip
    return "\n".join(lines) + "\n"


def measure(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one child run to completion; a failing child stops the benchmark."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark child failed: {' '.join(cmd)}\n{proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="harness-batch-bench-"))
    suite = work / "suite.yaml"
    suite.write_text(suite_yaml(args.cases), encoding="utf-8")
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench-not-a-real-key", "PYTHONPATH": str(REPO)}
    env.pop("OPENAI_BASE_URL", None)
    samples: dict[str, list[tuple[float, float, float]]] = {"batch": [], "live": []}
    counts: dict[str, list[tuple[int, int]]] = {"batch": [], "live": []}
    with FakeOpenAI() as server:
        runs = {
            "batch": ["--batch"],
            "live": ["--concurrency", "32"],
        }
        for r in range(args.repeats):
            for who in (("batch", "live") if r % 2 == 0 else ("live", "batch")):
                before, batches_before = len(server.requests), len(server.batch_creates)
                cmd = [sys.executable, "-m", "harness", "run", str(suite), "--cassettes", "off", "--base-url",
                       server.base_url, "--out", str(work / f"{who}-{r}"), "-q", *runs[who]]  # fmt: skip
                samples[who].append(measure(cmd, work, env))
                counts[who].append((len(server.requests) - before, len(server.batch_creates) - batches_before))
                print(f"{who} run {r + 1}/{args.repeats}: wall {samples[who][-1][0]:.2f} s, "
                      f"requests {counts[who][-1][0]}, batches {counts[who][-1][1]}", file=sys.stderr)  # fmt: skip
    print(f"| {args.cases:,} cases, median of {args.repeats} | wall s | CPU s | peak RSS MB | requests answered | batches |")
    print("|---|---:|---:|---:|---:|---:|")
    for who, label in (("batch", "`--batch` (one round)"), ("live", "live, `--concurrency 32`")):
        wall, cpu, rss = (statistics.median(s[i] for s in samples[who]) for i in range(3))
        requests, batches = counts[who][-1]
        print(f"| {label} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | {requests:,} | {batches} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
