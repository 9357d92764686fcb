"""Backpressure: token buckets for rpm/tpm, the adaptive cap on requests in flight, and the progress line."""

from __future__ import annotations

import asyncio
import io
import time

import pytest

from harness.cli.progress import Progress
from harness.core.errors import RequestFailed
from harness.core.reply import Completion, Usage
from harness.core.result import CaseResult, TurnResult
from harness.core.settings import RunSettings
from harness.execution.runner import RunObserver, execute
from harness.metering.tokens import count_chat_tokens
from harness.providers.ratelimit import AdaptiveConcurrency, RequestGate, TokenBucket, request_tokens
from harness.suites.planning import load_plans


class FakeClock:
    """Time that only moves when someone sleeps: pacing tests in microseconds, exactly."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_bucket_allows_a_short_burst_then_paces_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(60, clock=clock, sleep=clock.sleep)  # 1 per second, 6 seconds of burst

    async def take(n):
        return [await bucket.acquire() for _ in range(n)]

    asyncio.run(take(16))
    assert clock.now == pytest.approx(10.0)  # 6 at once, then one a second
    assert all(s == pytest.approx(1.0) for s in clock.sleeps)


def test_bucket_refills_while_idle_but_never_past_its_capacity():
    clock = FakeClock()
    bucket = TokenBucket(600, clock=clock, sleep=clock.sleep)  # 10/s, capacity 60
    asyncio.run(bucket.acquire(60))
    clock.now += 1000  # a long idle spell
    asyncio.run(bucket.acquire(60))
    assert clock.sleeps == []
    asyncio.run(bucket.acquire(10))
    assert clock.sleeps == [pytest.approx(1.0)]


def test_an_oversized_request_waits_for_a_full_bucket_and_leaves_debt():
    clock = FakeClock()
    bucket = TokenBucket(600, clock=clock, sleep=clock.sleep)  # 10/s, capacity 60
    asyncio.run(bucket.acquire(100))  # more than the bucket holds: goes now, 40 in debt
    assert clock.now == 0
    asyncio.run(bucket.acquire(10))
    assert clock.now == pytest.approx(5.0)  # (40 debt + 10) / 10 per second: the average rate holds


def test_bucket_waiters_are_served_in_arrival_order():
    clock = FakeClock()
    bucket = TokenBucket(60, burst_seconds=1, clock=clock, sleep=clock.sleep)
    order: list[int] = []

    async def main():
        async def one(i):
            await bucket.acquire()
            order.append(i)

        await asyncio.gather(*(one(i) for i in range(8)))

    asyncio.run(main())
    assert order == list(range(8))


def test_aimd_halves_once_per_burst_and_recovers_after_sustained_success():
    limiter = AdaptiveConcurrency(8)

    async def main():
        gens = [await limiter.acquire() for _ in range(8)]
        for g in gens[:6]:  # a burst of 429s from requests admitted together: one decrease
            limiter.release(g, "rate_limited")
        assert limiter.limit == 4 and limiter.decreases == 1
        for g in gens[6:]:
            limiter.release(g, "ok")
        g = await limiter.acquire()  # admitted after the decrease: its 429 is news
        limiter.release(g, "rate_limited")
        assert limiter.limit == 2
        for _ in range(2):  # a full round of successes at the current limit: +1
            limiter.release(await limiter.acquire(), "ok")
        assert limiter.limit == 3
        for _ in range(3 + 4 + 5 + 6 + 7 + 8):
            limiter.release(await limiter.acquire(), "ok")
        assert limiter.limit == 8  # back to --concurrency, and never past it
        limiter.release(await limiter.acquire(), "failed")  # a 500 says nothing about rate: no change
        assert limiter.limit == 8

    asyncio.run(main())


def test_aimd_never_goes_below_one_and_cancelled_waiters_leak_no_slot():
    limiter = AdaptiveConcurrency(2)

    async def main():
        for _ in range(5):
            limiter.release(await limiter.acquire(), "rate_limited")
        assert limiter.limit == 1
        held = await limiter.acquire()
        waiter = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)
        assert limiter.waiting == 1
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        limiter.release(held, "ok")
        assert limiter.in_flight == 0
        assert await asyncio.wait_for(limiter.acquire(), 1) is not None

    asyncio.run(main())


def test_gate_never_exceeds_its_limit_under_load():
    gate = RequestGate.build(3)
    peak = 0

    async def request(i):
        nonlocal peak
        async with gate.admit("s", 0) as slot:
            peak = max(peak, gate.concurrency.in_flight)
            await asyncio.sleep(0.001 * (i % 3))
            slot.outcome = "rate_limited" if i == 5 else "ok"

    async def main():
        await asyncio.gather(*(request(i) for i in range(60)))

    asyncio.run(main())
    assert peak <= 3 and gate.concurrency.in_flight == 0


def test_request_tokens_are_the_prompt_count_plus_the_completion_budget():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
    prompt = count_chat_tokens(messages, "gpt-4o-mini")
    assert request_tokens("gpt-4o-mini", messages, {"max_tokens": 200}) == prompt + 200
    assert request_tokens("gpt-4o-mini", messages, {"max_completion_tokens": 50}) == prompt + 50
    assert request_tokens("gpt-4o-mini", messages, {}) == prompt


def _suite(write_suite, n, extra="", user="hi {i}"):
    return write_suite(f"model: m\n{extra}cases:\n" + "".join(
        f"  - {{id: c{i}, turns: [{{user: '{user.format(i=i)}'}}]}}\n" for i in range(n)))  # fmt: skip


def _arrivals(server, monkeypatch) -> list[float]:
    arrivals: list[float] = []
    record = server.record
    monkeypatch.setattr(server, "record", lambda entry: (arrivals.append(time.monotonic()), record(entry))[1])
    return arrivals


def test_concurrency_caps_requests_in_flight_at_the_server(fake_server, harness_cli, write_suite, monkeypatch):
    arrivals = _arrivals(fake_server, monkeypatch)
    suite = _suite(write_suite, 9, user="[[sleep:200]] hi {i}")
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q", "--concurrency", 3)
    assert r.code == 0, r.out
    arrivals.sort()
    assert len(arrivals) == 9
    assert all(b - a >= 0.15 for a, b in zip(arrivals, arrivals[3:]))  # never a 4th while 3 are in flight


def test_rpm_paces_requests(fake_server, harness_cli, write_suite, monkeypatch):
    arrivals = _arrivals(fake_server, monkeypatch)
    suite = _suite(write_suite, 16)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q", "--rpm", 240)
    assert r.code == 0
    # 240/min = 4/s with 24 of burst; a suite's own rate_limit is stricter here: 120/min, 12 of burst
    assert max(arrivals) - min(arrivals) < 1.0
    arrivals.clear()
    suite = _suite(write_suite, 16, extra="rate_limit: {rpm: 120}\n")
    started = time.monotonic()
    assert harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q").code == 0
    assert time.monotonic() - started >= 1.4  # 12 at once, then 4 more at 2 a second


def test_tpm_paces_by_prompt_and_completion_budget(fake_server, harness_cli, write_suite):
    suite = _suite(write_suite, 8, extra="params: {max_tokens: 100}\n")
    started = time.monotonic()
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q", "--tpm", 6000)
    assert r.code == 0
    # 6000/min = 100/s with 600 of burst; each request costs ~110 (prompt + max_tokens): 5 at once, then ~1.1 s each
    assert time.monotonic() - started >= 2.5


def test_replay_is_not_paced(harness_cli, write_suite, tmp_path, fake_server):
    suite = _suite(write_suite, 6)
    harness_cli("run", suite, "--cassettes", "record", "--base-url", fake_server.base_url, "-q")
    started = time.monotonic()
    r = harness_cli("run", suite, "-q", "--rpm", 1)
    assert r.code == 0 and time.monotonic() - started < 2


class Watch(RunObserver):
    def __init__(self) -> None:
        self.limits: list[int] = []
        self.retries = 0

    def tick(self, in_flight: int, limit: int, waiting: int) -> None:
        self.limits.append(limit)

    def retry(self, attempt: int, error: RequestFailed, wait: float) -> None:
        self.retries += 1


def test_a_burst_of_429s_lowers_concurrency_and_every_case_still_finishes(fake_server, write_suite):
    fake_server.faults.rate_429, fake_server.faults.retry_after = 0.4, 0.05
    _, plans = load_plans([str(_suite(write_suite, 40, extra="retry: {max_retries: 12, base_delay: 0.01}\n"))])
    watch = Watch()
    settings = RunSettings(base_url=fake_server.base_url, concurrency=8, cassette_mode="off")
    cases = asyncio.run(execute(plans, settings, "sk-x", observer=watch))
    assert [c.status for c in cases] == ["passed"] * 40
    assert watch.retries > 0 and min(watch.limits) < 8


def test_progress_line_shows_the_queue(monkeypatch):
    stream = io.StringIO()
    progress = Progress(10, stream=stream, concurrency=8, live=True)
    progress.tick(in_flight=3, limit=4, waiting=2)
    progress.retry(1, RequestFailed("HTTP 429", retryable=True, status=429), 0.1)
    reply = Completion("hi", "stop", Usage(10, 5, 15))
    turn = TurnResult(1, [], {}, reply=reply, cost_usd=0.0021)
    progress.case_done(CaseResult("s", "a", "passed", turns=[turn]))
    progress.case_done(CaseResult("s", "b", "error", error="boom"))
    line = progress.line()
    for part in ["[2/10]", "3 in flight (limit 4/8 after 429s)", "0 failed, 1 error,", "1 retry,", "15 tokens",
                 "$0.0021", "ETA"]:  # fmt: skip
        assert part in line, line
    assert stream.getvalue().startswith("\r\033[K")  # redrawn in place on a terminal


def test_progress_prints_plain_periodic_lines_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress(3, stream=stream, interval=3600)
    for i in range(3):
        progress.case_done(CaseResult("s", str(i), "passed"))
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[1/3]") and lines[-1].startswith("[3/3]")  # the first, then the last; none between
    assert len(lines) == 2 and "\r" not in stream.getvalue() and "\033" not in stream.getvalue()
