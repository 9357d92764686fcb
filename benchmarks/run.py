"""Benchmark driver: the harness (`harness run` as a subprocess) against the floor, in one session.

For each workload it runs the harness and the floor (the bare ``openai`` SDK,
benchmarks/floor.py) alternately against one fake OpenAI-compatible server
(benchmarks/fake_server.py, its own process), and reports medians of wall
time, CPU seconds (user+sys of the child, from os.wait4) and peak RSS
(ru_maxrss of the child), the ratios harness/floor, the server's own CPU
seconds, and whether each target of issue #8 is met, as Markdown.

    python benchmarks/run.py                 # everything, 3 repeats (about 15 minutes on 2 cores)
    python benchmarks/run.py --quick         # the 1,000-case subset (about 2 minutes)
    python benchmarks/run.py --only live-1k-0ms --only replay-1k --repeats 5
    python benchmarks/run.py --cases 20 --repeats 1   # every workload at 20 cases: a smoke run
    python benchmarks/run.py --only load-100k --only replay-100k   # issue #19: 100,000 cases (replay-100k records them first)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import cpu_ceiling  # noqa: E402
from workload import write_suite  # noqa: E402

BENCH_KEY = "sk-bench-not-a-real-key"


@dataclass(frozen=True)
class Workload:
    name: str
    kind: str  # live | replay | version | report | load | batch | validate | workers-live | workers-replay
    cases: int = 0
    latency_ms: int = 0
    turns: int = 1
    quick: bool = False
    note: str = ""
    files: int = 1  # suite files the cases are split into


WORKLOADS = [
    Workload("live-1k-0ms", "live", 1000, 0, quick=True),
    Workload("live-10k-0ms", "live", 10000, 0),
    Workload("live-1k-200ms", "live", 1000, 200, quick=True, note="ideal 6.25 s"),
    Workload("live-10k-200ms", "live", 10000, 200, note="ideal 62.5 s"),
    Workload("replay-1k", "replay", 1000, quick=True),
    Workload("replay-10k", "replay", 10000),
    Workload("multiturn-5", "live", 200, 0, turns=5, quick=True, note="200 cases x 5 turns"),
    Workload("startup-version", "version", quick=True, note="floor: `python -c pass`"),
    Workload("startup-1case", "live", 1, 0, quick=True),
    Workload("report-10k", "report", 10000, note="benchmarks/report_bench.py, one call"),
    Workload("load-csv-10k", "load", 10000, quick=True,
             note="`harness validate` of a suite with a 10,000-row `cases_from` CSV; floor: csv.DictReader of it"),
    Workload("batch-1k", "batch", 1000, quick=True,
             note="`--batch` against the fake Batch API, benchmarks/batch_bench.py; no floor"),
    # issue #19, part C: large suites load, replay twice as fast, start-up
    Workload("load-100k", "validate", 100000,
             note="`harness validate` of the 100,000-case workload suite; floor: yaml.load of it with CSafeLoader"),
    Workload("replay-100k", "replay", 100000),
    Workload("startup-replay-1case", "replay", 1, quick=True),
    Workload("live-100k-0ms", "live", 100_000, 0, files=10,
             note="ten 10,000-case suite files; issue #19: peak RSS ≤ 1.3 × live-10k-0ms's"),
    Workload("report-100k", "flat-report", 100_000,
             note="benchmarks/flat_memory_bench.py: results.json and reports from the journal, Chromium timings"),
    # issue #19, item 2: the same run with --workers 2 (harness columns) and --workers 1 (floor columns)
    Workload("workers-2-replay-10k", "workers-replay", 10000,
             note="harness: --workers 2, floor: --workers 1, warm parse cache"),
    Workload("workers-2-live-10k-0ms", "workers-live", 10000, 0, note="harness: --workers 2, floor: --workers 1"),
]


@dataclass
class Sample:
    wall_s: float
    cpu_s: float
    rss_mb: float
    server_cpu_s: float | None = None


@dataclass
class Row:
    workload: Workload
    harness: list[Sample] = field(default_factory=list)
    floor: list[Sample] = field(default_factory=list)
    promptfoo: list[Sample] = field(default_factory=list)
    cold: list[Sample] = field(default_factory=list)  # replay with an empty parse cache
    cases: int = 0  # what was run (--cases may cap the workload's size)
    extra: str = ""
    ceiling: float | None = None  # workers rows: two processes' throughput against one's, measured (cpu_ceiling.py)
    shards: float | None = None  # workers rows: two independent --shard k/2 processes against --workers 1


class Server:
    """The fake server in its own process; ``stats()`` reads its CPU seconds."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(HERE / "fake_server.py")], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("PORT "):
            self.proc.kill()
            raise SystemExit(f"fake server did not start: {line!r}")
        self.port = int(line.split()[1])

    def url(self, latency_ms: int) -> str:
        return f"http://127.0.0.1:{self.port}/latency/{latency_ms}/v1"

    def cpu_s(self) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as r:
            return float(json.loads(r.read())["cpu_s"])

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def measure(cmd: list[str], cwd: Path, env: dict[str, str], log: Path, server: Server | None) -> Sample:
    """Run one child to completion; its own rusage (os.wait4) gives CPU and peak RSS."""
    before = server.cpu_s() if server else None
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise SystemExit(f"benchmark child failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    server_cpu = round(server.cpu_s() - before, 3) if server and before is not None else None
    return Sample(round(wall, 3), round(usage.ru_utime + usage.ru_stime, 3), round(usage.ru_maxrss / 1024, 1), server_cpu)


def harness_cmd(suite: Path, out: Path, *extra: str, concurrency: int) -> list[str]:
    return [sys.executable, "-m", "harness", "run", str(suite), "--out", str(out), "-q",
            "--concurrency", str(concurrency), *extra]  # fmt: skip


def child_env(with_key: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["NO_COLOR"] = "1"
    env["HARNESS_CACHE_DIR"] = ""  # replay workloads set their own; never the user's cache
    if with_key:
        env["OPENAI_API_KEY"] = BENCH_KEY
    return env


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def alternate(row: Row, runs: dict[str, list[str]], repeats: int, wdir: Path, env: dict[str, str],
              server: Server | None = None, labels: dict[str, str] | None = None) -> Row:  # fmt: skip
    """Run the harness and the floor command ``repeats`` times each, alternating which goes first."""
    for r in range(repeats):
        for who in (("harness", "floor") if r % 2 == 0 else ("floor", "harness")):
            sample = measure(runs[who], wdir, env, wdir / f"{who}-{r}.log", server)
            getattr(row, who).append(sample)
            log(f"{row.workload.name} {(labels or {}).get(who, who)} run {r + 1}/{repeats}: {sample}")
    return row


def run_workload(w: Workload, args: argparse.Namespace, work: Path, server: Server, promptfoo: Path | None) -> Row | None:
    n = min(w.cases, args.cases) if args.cases and w.cases else w.cases
    row = Row(w, cases=n)
    wdir = work / w.name
    wdir.mkdir(parents=True, exist_ok=True)
    env = child_env()
    if w.kind == "report":
        script = HERE / "report_bench.py"
        if not script.exists():
            log(f"{w.name}: skipped, {script.name} does not exist yet (hook for the 10,000-case HTML report)")
            return None
        # One call: the script takes its own medians over --repeats; the row shows the whole call.
        cmd = [sys.executable, str(script), "--cases", str(n), "--repeats", str(args.repeats)]
        row.harness.append(measure(cmd, wdir, env, wdir / "report.log", None))
        log(f"{w.name}: {row.harness[-1]}")
        row.extra = (wdir / "report.log").read_text(errors="replace").strip()[-1500:]
        return row
    if w.kind == "batch":  # its own fake server (with /v1/files and /v1/batches); the script alternates its runs
        cmd = [sys.executable, str(HERE / "batch_bench.py"), "--cases", str(n), "--repeats", str(args.repeats)]
        measure(cmd, wdir, env, wdir / "batch.log", None)
        lines = [line for line in (wdir / "batch.log").read_text(errors="replace").splitlines() if line.startswith("|")]
        wall, cpu, rss = (float(x) for x in next(x for x in lines if "`--batch`" in x).split("|")[2:5])
        row.harness.append(Sample(wall, cpu, rss))  # the medians of the `--batch` runs; the live ones in `extra`
        log(f"{w.name}: {row.harness[-1]}")
        row.extra = "\n".join(lines)
        return row
    if w.kind == "flat-report":
        # One call; its table (write time and RSS, file sizes, page timings) is the row's note.
        cmd = [sys.executable, str(HERE / "flat_memory_bench.py"), "--cases", str(n)]
        row.harness.append(measure(cmd, wdir, env, wdir / "flat.log", None))
        log(f"{w.name}: {row.harness[-1]}")
        row.extra = (wdir / "flat.log").read_text(errors="replace").strip()[-1500:]
        return row
    if w.kind == "load":
        from case_table_bench import write_project

        write_project(wdir, n)
        runs = {"harness": [sys.executable, "-m", "harness", "validate", "table.yaml"],
                "floor": [sys.executable, "-c", "import csv, sys; list(csv.DictReader(open(sys.argv[1], newline='')))",
                          "tickets.csv"]}  # fmt: skip
        return alternate(row, runs, args.repeats, wdir, env)
    if w.kind == "validate":
        write_suite(wdir / "suite.yaml", n, w.turns, name=w.name)
        runs = {"harness": [sys.executable, "-m", "harness", "validate", "suite.yaml"],
                "floor": [sys.executable, "-c", "import sys, yaml; yaml.load(open(sys.argv[1], encoding='utf-8'), "
                          "Loader=yaml.CSafeLoader)", "suite.yaml"]}  # fmt: skip
        return alternate(row, runs, args.repeats, wdir, env)
    if w.kind == "version":
        runs = {"harness": [sys.executable, "-m", "harness", "--version"], "floor": [sys.executable, "-c", "pass"]}
        return alternate(row, runs, args.repeats, wdir, env)
    if w.files > 1:  # a folder of suite files, as a large project keeps them
        for i in range(w.files):
            write_suite(wdir / "suites" / f"part-{i:02d}.yaml", n // w.files, w.turns, name=f"{w.name}-{i:02d}")
        suite = wdir / "suites"
    else:
        suite = write_suite(wdir / "suite.yaml", n, w.turns, name=w.name)
    if w.kind.startswith("workers-"):
        return _workers_row(w, row, args, wdir, suite, server)
    concurrency = args.concurrency
    url = server.url(w.latency_ms)
    cassettes = wdir / "cassettes"
    if w.kind == "replay":
        t0 = time.perf_counter()
        measure(harness_cmd(suite, wdir / "record-out", "--cassettes", "record", "--cassette-dir", str(cassettes),
                            "--base-url", url, concurrency=concurrency), wdir, env, wdir / "record.log", server)  # fmt: skip
        log(f"{w.name}: recorded {n} cassettes in {time.perf_counter() - t0:.1f} s")
        # Same base URL as the recording (the path takes part in matching); replay never touches it.
        cmd = harness_cmd(suite, wdir / "out", "--cassettes", "replay", "--cassette-dir", str(cassettes),
                          "--base-url", url, concurrency=concurrency)  # fmt: skip
        warm_env = {**child_env(with_key=False), "HARNESS_CACHE_DIR": str(wdir / "parse-cache-warm")}
        measure(cmd, wdir, warm_env, wdir / "warm-up.log", server)  # fills the warm parse cache, untimed
        for r in range(args.repeats):
            # Alternating: warm parse cache (a developer's re-run), cold (a fresh CI machine).
            cold_env = {**warm_env, "HARNESS_CACHE_DIR": str(wdir / f"parse-cache-cold-{r}")}
            for who, run_env in (("harness", warm_env), ("cold", cold_env))[:: 1 if r % 2 == 0 else -1]:
                getattr(row, who).append(measure(cmd, wdir, run_env, wdir / f"{who}-{r}.log", server))
                log(f"{w.name} {who} run {r + 1}/{args.repeats}: {getattr(row, who)[-1]}")
        return row
    runs = {
        "harness": harness_cmd(suite, wdir / "out", "--cassettes", "off", "--base-url", url, concurrency=concurrency),
        "floor": [sys.executable, str(HERE / "floor.py"), "--base-url", url, "--cases", str(n), "--turns", str(w.turns),
                  "--concurrency", str(concurrency)],  # fmt: skip
    }
    if promptfoo is not None and w.name in args.promptfoo_workloads:
        from promptfoo_bench import promptfoo_command

        command = promptfoo_command(promptfoo, wdir, url, n, w.turns, concurrency)
        if command:
            runs["promptfoo"] = command
    order = list(runs)
    for r in range(args.repeats):
        for who in (order if r % 2 == 0 else order[::-1]):
            sample = measure(runs[who], wdir, env, wdir / f"{who}-{r}.log", server)
            getattr(row, who).append(sample)
            log(f"{w.name} {who} run {r + 1}/{args.repeats}: {sample}")
    return row


def _workers_row(w: Workload, row: Row, args: argparse.Namespace, wdir: Path, suite: Path, server: Server) -> Row:
    """`--workers 2` (the harness columns) against `--workers 1` (the floor columns), alternately, same suite."""
    url, env = server.url(w.latency_ms), child_env()
    if w.kind == "workers-replay":
        cassettes = wdir / "cassettes"
        measure(harness_cmd(suite, wdir / "record-out", "--cassettes", "record", "--cassette-dir", str(cassettes),
                            "--base-url", url, "--workers", "2", concurrency=args.concurrency), wdir, env,
                wdir / "record.log", server)  # fmt: skip
        env = {**child_env(with_key=False), "HARNESS_CACHE_DIR": str(wdir / "parse-cache")}
        mode = ["--cassettes", "replay", "--cassette-dir", str(cassettes)]
        measure(harness_cmd(suite, wdir / "warm", *mode, "--base-url", url, concurrency=args.concurrency), wdir, env,
                wdir / "warm-up.log", server)  # fills the parse cache, untimed  # fmt: skip
    else:
        mode = ["--cassettes", "off"]
    runs = {who: harness_cmd(suite, wdir / f"out-{who}", *mode, "--base-url", url, "--workers", count,
                             concurrency=args.concurrency) for who, count in (("harness", "2"), ("floor", "1"))}  # fmt: skip
    row = alternate(row, runs, args.repeats, wdir, env, server, labels={"harness": "--workers 2", "floor": "--workers 1"})
    # Two separate `--shard k/2` processes started together: what two cores give this run with no coordination
    # at all (each loads the whole suite and writes its own outputs), the bar --workers is to be read against.
    pair = [harness_cmd(suite, wdir / f"out-shard-{k}", *mode, "--base-url", url, "--shard", f"{k}/2",
                        concurrency=args.concurrency) for k in (1, 2)]  # fmt: skip
    shards = statistics.median(_together(pair, wdir, env) for _ in range(args.repeats))
    one = med(row.floor, "wall_s")
    row.shards = one / shards if one else None
    smoke = args.cases is not None  # a capped smoke run: one short sample
    row.ceiling, ratios = cpu_ceiling.ceiling(1 if smoke else 5, cpu_ceiling.WORK // (50 if smoke else 1))  # right
    # after the runs, on the same machine: the most any split over two processes can gain here
    row.extra = (f"two independent `--shard k/2` processes at once: {shards:.2f} s wall, "
                 f"{row.shards or 0:.2f}× `--workers 1` (median of {args.repeats}); "
                 f"pure arithmetic, two processes against one: {row.ceiling:.2f}× (median pair; each pair: "
                 f"{', '.join(f'{r:.2f}' for r in ratios)})")  # fmt: skip
    return row


def _together(cmds: list[list[str]], wdir: Path, env: dict[str, str]) -> float:
    """Start every command at once; the wall time until the last one ends."""
    started = time.perf_counter()
    procs = [subprocess.Popen(cmd, cwd=wdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for cmd in cmds]
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"benchmark child failed (exits {codes}): {' '.join(cmds[0])}")
    return time.perf_counter() - started


def med(samples: list[Sample], attr: str) -> float | None:
    values = [getattr(s, attr) for s in samples if getattr(s, attr) is not None]
    return statistics.median(values) if values else None


def fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or not b else f"{a / b:.2f}"


def table(rows: list[Row]) -> str:
    head = ("| workload | harness wall s | floor wall s | wall × | harness CPU s | floor CPU s | CPU × "
            "| harness RSS MB | floor RSS MB | RSS × | server CPU s |")  # fmt: skip
    lines = [head, "|" + "---|" * 11]
    for row in rows:
        h, f = row.harness, row.floor
        note = row.workload.note if row.cases == row.workload.cases else f"capped at {row.cases} cases"
        label = row.workload.name + (f" ({note})" if note else "")
        cells = [label, fmt(med(h, "wall_s")), fmt(med(f, "wall_s")), ratio(med(h, "wall_s"), med(f, "wall_s")),
                 fmt(med(h, "cpu_s")), fmt(med(f, "cpu_s")), ratio(med(h, "cpu_s"), med(f, "cpu_s")),
                 fmt(med(h, "rss_mb"), 0), fmt(med(f, "rss_mb"), 0), ratio(med(h, "rss_mb"), med(f, "rss_mb")),
                 fmt(med(h, "server_cpu_s"))]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
        for label, p in ((f"↳ promptfoo, {row.workload.name}", row.promptfoo),
                         (f"↳ {row.workload.name}, cold parse cache", row.cold)):
            if p:
                lines.append("| " + " | ".join([label, fmt(med(p, "wall_s")), "", "", fmt(med(p, "cpu_s")), "", "",
                                                fmt(med(p, "rss_mb"), 0), "", "", fmt(med(p, "server_cpu_s"))]) + " |")  # fmt: skip
    return "\n".join(lines)


def targets(rows: list[Row]) -> str:
    by = {r.workload.name: r for r in rows}
    out: list[str] = []

    def check(name: str, what: str, value: float | None, limit: float, unit: str = "") -> None:
        if value is None:
            return
        verdict = "met" if value <= limit else f"NOT met (by {value / limit - 1:.0%})"
        out.append(f"- {name}: {what} {value:.2f}{unit} (target ≤ {limit:g}{unit}): {verdict}")

    def r_of(name: str, attr: str) -> float | None:
        row = by.get(name)
        if not row or not row.floor:
            return None
        a, b = med(row.harness, attr), med(row.floor, attr)
        return a / b if a is not None and b else None

    for name in ("live-1k-200ms", "live-10k-200ms"):
        check(name, "wall ×floor", r_of(name, "wall_s"), 1.1)
    for name in ("live-1k-0ms", "live-10k-0ms"):
        check(name, "CPU s per case ×floor", r_of(name, "cpu_s"), 1.5)
    for name in ("live-10k-0ms", "live-10k-200ms"):
        check(name, "peak RSS ×floor", r_of(name, "rss_mb"), 3.0)
    if "live-1k-0ms" in by and "live-10k-0ms" in by:
        h1, h10 = med(by["live-1k-0ms"].harness, "rss_mb"), med(by["live-10k-0ms"].harness, "rss_mb")
        f1, f10 = med(by["live-1k-0ms"].floor, "rss_mb"), med(by["live-10k-0ms"].floor, "rss_mb")
        if None not in (h1, h10, f1, f10):
            n1, n10 = by["live-1k-0ms"].cases, by["live-10k-0ms"].cases
            per = lambda a, b: (b - a) / max(n10 - n1, 1) * 1000  # noqa: E731 (KB per case)
            out.append(f"- memory growth 1k → 10k cases: harness {per(h1, h10):.1f} KB/case, floor {per(f1, f10):.1f} KB/case")
    if "live-10k-0ms" in by and "live-100k-0ms" in by:  # issue #19: memory flat in the run's size
        h10, h100 = med(by["live-10k-0ms"].harness, "rss_mb"), med(by["live-100k-0ms"].harness, "rss_mb")
        if h10 and h100:
            check("live-100k-0ms", "peak RSS × live-10k-0ms's", h100 / h10, 1.3)
    for name, limit in (("replay-1k", 2.0), ("replay-10k", 15.0)):
        if name in by:
            check(name, "wall (warm parse cache)", med(by[name].harness, "wall_s"), limit, " s")
            check(name, "wall (cold parse cache)", med(by[name].cold, "wall_s"), limit, " s")
    if "startup-version" in by:
        check("harness --version", "wall", med(by["startup-version"].harness, "wall_s"), 0.3, " s")
    for name in ("workers-2-replay-10k", "workers-2-live-10k-0ms"):
        if name in by and by[name].floor:
            one, two = med(by[name].floor, "wall_s"), med(by[name].harness, "wall_s")
            speedup = one / two if one and two else None
            if speedup is not None:
                verdict = "met" if speedup >= 1.7 else f"NOT met (short by {1.7 / speedup - 1:.0%})"
                ceiling, shards = by[name].ceiling, by[name].shards
                machine_note = (f"; this machine runs two processes of pure arithmetic {ceiling:.2f}× as fast as one"
                                if ceiling else "")  # fmt: skip
                if shards:
                    machine_note += f", and two independent `--shard k/2` runs of this suite {shards:.2f}× as fast"
                out.append(f"- {name}: --workers 2 is {speedup:.2f}× as fast as --workers 1 ({two:.2f} s vs {one:.2f} s "
                           f"wall; target ≥ 1.7×): {verdict}{machine_note}")  # fmt: skip
    if "load-csv-10k" in by:
        check("load-csv-10k", "wall of the whole `harness validate` (start-up included)",
              med(by["load-csv-10k"].harness, "wall_s"), 1.0, " s")  # fmt: skip
    # issue #19, part C
    if "load-100k" in by:
        check("load-100k (issue #19)", "wall of `harness validate`", med(by["load-100k"].harness, "wall_s"), 10.0, " s")
        check("load-100k (issue #19)", "peak RSS", med(by["load-100k"].harness, "rss_mb"), 500.0, " MB")
    for name, limit in (("replay-1k", 1.0), ("replay-10k", 6.0), ("startup-replay-1case", 0.5)):
        if name in by:
            check(f"{name} (issue #19)", "wall (cold parse cache)", med(by[name].cold, "wall_s"), limit, " s")
    if "startup-version" in by:
        check("harness --version (issue #19)", "wall", med(by["startup-version"].harness, "wall_s"), 0.05, " s")
    return "\n".join(out)


def machine() -> str:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, {platform.system()} "
            f"{platform.release()}; load average (1, 5, 15 min) at the end {load}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side per workload; medians reported (default 3)")
    parser.add_argument("--quick", action="store_true", help="only the 1,000-case workloads and start-up")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this workload (repeatable): "
                        + ", ".join(w.name for w in WORKLOADS))  # fmt: skip
    parser.add_argument("--cases", type=int, help="cap every workload at this many cases (smoke runs)")
    parser.add_argument("--concurrency", type=int, default=32, help="cases in flight, harness and floor (default 32)")
    parser.add_argument("--promptfoo", choices=["auto", "on", "off"], default="auto",
                        help="also run promptfoo from the npm registry (auto, the default: when npm is present "
                             "and it installs; the first run installs it, about a minute)")  # fmt: skip
    parser.add_argument("--promptfoo-workloads", default="live-1k-0ms,live-1k-200ms",
                        help="comma-separated workloads for promptfoo (default: live-1k-0ms,live-1k-200ms)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write every sample as JSON here")
    parser.add_argument("--markdown", type=Path, help="also write the Markdown output here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (suites, cassettes, logs)")
    args = parser.parse_args(argv)
    args.promptfoo_workloads = set(args.promptfoo_workloads.split(","))

    names = {w.name for w in WORKLOADS}
    unknown = set(args.only or []) - names
    if unknown:
        parser.error(f"unknown workload {', '.join(sorted(unknown))}; choose from {', '.join(sorted(names))}")
    chosen = [w for w in WORKLOADS if (w.name in args.only if args.only else (w.quick or not args.quick))]

    work = Path(tempfile.mkdtemp(prefix="harness-bench-"))
    started = dt.datetime.now().astimezone()
    load_start = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    command = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    log(f"benchmarks in {work}; {len(chosen)} workloads, {args.repeats} repeats")
    promptfoo = None
    if args.promptfoo != "off":
        from promptfoo_bench import install_promptfoo

        promptfoo = install_promptfoo(required=args.promptfoo == "on", log=log)
    server = Server()
    rows: list[Row] = []
    try:
        for w in chosen:
            row = run_workload(w, args, work, server, promptfoo)
            if row is not None:
                rows.append(row)
    finally:
        server.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")
    finished = dt.datetime.now().astimezone()
    text = "\n".join([
        f"Measured {started:%Y-%m-%d %H:%M}–{finished:%H:%M %Z} with `{command.strip()}`",
        f"({args.repeats} runs of each side per workload, alternating harness and floor; medians; "
        f"concurrency {args.concurrency}; {machine()}; at the start {load_start}).",
        "",
        table(rows),
        "",
        ("Capped run (--cases): the sizes differ from the targets', so these verdicts are only a smoke test.\n"
         if args.cases else "") + targets(rows),
    ] + [f"\n{r.workload.name}:\n{r.extra}" for r in rows if r.extra])  # fmt: skip
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps([{"workload": asdict(r.workload), "harness": [asdict(s) for s in r.harness],
                                           "floor": [asdict(s) for s in r.floor],
                                           "promptfoo": [asdict(s) for s in r.promptfoo],
                                           "cold": [asdict(s) for s in r.cold], "cases": r.cases} for r in rows],
                                         indent=2) + "\n", encoding="utf-8")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
