"""The one retry layer: what is retried, how long it waits, and how many requests the server sees."""

from __future__ import annotations

import asyncio
import time

import pytest

from harness.core.errors import RequestFailed
from harness.providers.retry import RetryPolicy, with_retries
from harness.providers.sdk_errors import retry_after

FAST = "retry: {base_delay: 0.01}\n"


def one_case_suite(write_suite, user: str = "hi", extra: str = FAST):
    return write_suite(f"model: m\n{extra}cases: [{{id: a, turns: [{{user: {user!r}}}]}}]\n")


def test_backoff_grows_exponentially_with_equal_jitter():
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    for attempt, full in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (9, 4.0)]:
        waits = [policy.delay(attempt, None) for _ in range(200)]
        assert all(full / 2 <= w <= full for w in waits), (attempt, min(waits), max(waits))
        assert max(waits) - min(waits) > full / 10  # really jittered


def test_retry_after_is_a_floor_with_a_little_jitter_and_a_cap():
    policy = RetryPolicy(base_delay=0.01, max_retry_after=60)
    waits = [policy.delay(1, 2.0) for _ in range(200)]
    assert all(2.0 <= w <= 2.2 for w in waits)
    assert policy.delay(1, 0.0) == 0.0
    assert 60 <= policy.delay(1, 3600) <= 66


def test_retry_after_headers_are_read_in_seconds_and_milliseconds():
    assert retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5  # the precise one wins
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None  # an HTTP date: use backoff
    assert retry_after({}) is None


def test_with_retries_stops_at_a_permanent_failure_and_keeps_its_message():
    calls = []

    async def send():
        calls.append(1)
        raise RequestFailed("HTTP 401: bad key", retryable=False, status=401)

    with pytest.raises(RequestFailed) as info:
        asyncio.run(with_retries(send, RetryPolicy(max_retries=5, base_delay=0.001)))
    assert len(calls) == 1
    assert info.value.message == "HTTP 401: bad key"


def test_with_retries_gives_up_with_the_last_cause():
    causes = iter(["HTTP 500: a", "HTTP 503: b", "request timed out after 1 s"])
    seen: list[tuple[int, float]] = []

    async def send():
        raise RequestFailed(next(causes), retryable=True)

    with pytest.raises(RequestFailed) as info:
        asyncio.run(with_retries(send, RetryPolicy(max_retries=2, base_delay=0.001),
                                 lambda n, e, wait: seen.append((n, wait))))  # fmt: skip
    assert info.value.message == "request timed out after 1 s (gave up after 2 retries)"
    assert [n for n, _ in seen] == [1, 2]


def test_with_retries_returns_the_first_success():
    outcomes = iter([RequestFailed("HTTP 429: slow down", retryable=True, status=429, retry_after=0.01), "ok"])

    async def send():
        item = next(outcomes)
        if isinstance(item, Exception):
            raise item
        return item

    assert asyncio.run(with_retries(send, RetryPolicy(max_retries=3))) == "ok"


FAULTS = {
    "429": dict(rate_429=1.0, retry_after=0.01),
    "500": dict(rate_500=1.0),
    "503": dict(rate_503=1.0),
    "hang": dict(rate_hang=1.0, hang_seconds=1.0),
    "drop": dict(rate_drop=1.0),
    "badjson": dict(rate_badjson=1.0),
}
CAUSES = {
    "429": "HTTP 429: Rate limit reached",
    "500": "HTTP 500: The server had an error",
    "503": "HTTP 503: The engine is currently overloaded",
    "hang": "request timed out after 0.3 s",
    "drop": "connection failed",
    "badjson": "unparsable response body",
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("retries", [0, 2])
def test_each_transient_fault_is_retried_exactly_max_retries_times(fault, retries, fake_server, harness_cli,
                                                                   write_suite, tmp_path):  # fmt: skip
    """One retry layer: the server sees 1 + max_retries requests, never the SDK's retries on top."""
    for name, value in FAULTS[fault].items():
        setattr(fake_server.faults, name, value)
    suite = one_case_suite(write_suite)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q",
                    "--max-retries", retries, "--timeout", "0.3")  # fmt: skip
    assert r.code == 3, r.err
    assert len(fake_server.requests) == 1 + retries
    case = r.results(tmp_path / "reports/latest")["cases"][0]
    assert case["status"] == "error"
    assert CAUSES[fault] in case["error"]
    assert ("gave up after 2 retries" in case["error"]) == (retries == 2)
    assert CAUSES[fault] in r.out  # the terminal summary shows the cause too


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_permanent_errors_are_not_retried_and_their_message_is_shown(status, fake_server, harness_cli, write_suite,
                                                                     tmp_path):  # fmt: skip
    suite = one_case_suite(write_suite, f"[[error:{status}]] hi")
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q", "--max-retries", 5)
    assert r.code == 3
    assert len(fake_server.requests) == 1
    assert f"HTTP {status}: injected error {status}" in r.out
    assert "gave up" not in r.out


def test_a_transient_fault_then_success_passes(fake_server, harness_cli, write_suite, tmp_path):
    fake_server.faults.rate_500 = 0.5
    fake_server.faults.rng.seed(3)  # a fixed draw: some requests fail, every case gets through within 6 retries
    suite = write_suite("model: m\nretry: {base_delay: 0.01, max_retries: 6}\ncases:\n"
                        + "".join(f"  - {{id: c{i}, turns: [{{user: hi {i}, expect: [{{contains: hi {i}}}]}}]}}\n"
                                  for i in range(10)))  # fmt: skip
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert r.code == 0, r.out
    assert len(fake_server.requests) > 10  # some were retried


def test_retry_after_is_honoured_between_attempts(fake_server, harness_cli, write_suite, monkeypatch):
    fake_server.faults.rate_429, fake_server.faults.retry_after = 1.0, 0.25
    arrivals: list[float] = []
    record = fake_server.record
    monkeypatch.setattr(fake_server, "record", lambda entry: (arrivals.append(time.monotonic()), record(entry))[1])
    suite = one_case_suite(write_suite)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q", "--max-retries", 2)
    assert r.code == 3
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert len(gaps) == 2 and all(g >= 0.25 for g in gaps), gaps  # not the 0.01 s base delay


def test_suite_retry_block_sets_the_limits_and_the_command_line_wins(fake_server, harness_cli, write_suite):
    fake_server.faults.rate_500 = 1.0
    suite = one_case_suite(write_suite, extra="retry: {max_retries: 1, base_delay: 0.01, timeout: 5}\n")
    assert harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q").code == 3
    assert len(fake_server.requests) == 2
    fake_server.requests.clear()
    harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q", "--max-retries", "0")
    assert len(fake_server.requests) == 1


def test_suite_timeout_applies_per_request(fake_server, harness_cli, write_suite, tmp_path):
    fake_server.faults.rate_hang, fake_server.faults.hang_seconds = 1.0, 2.0
    suite = one_case_suite(write_suite, extra="retry: {max_retries: 0, timeout: 0.2}\n")
    started = time.monotonic()
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q")
    assert time.monotonic() - started < 1.5
    assert "request timed out after 0.2 s" in r.results(tmp_path / "reports/latest")["cases"][0]["error"]


def test_other_cases_go_on_after_one_runs_out_of_retries(fake_server, harness_cli, write_suite, tmp_path):
    suite = write_suite("""
        model: m
        retry: {base_delay: 0.01}
        cases:
          - {id: broken, turns: [{user: "[[error:503]] hi"}]}
          - {id: fine, turns: [{user: hi}]}
    """)
    r = harness_cli("run", suite, "--cassettes", "off", "--base-url", fake_server.base_url, "-q", "--max-retries", 1)
    cases = {c["id"]: c for c in r.results(tmp_path / "reports/latest")["cases"]}
    assert cases["broken"]["status"] == "error" and "gave up after 1 retry)" in cases["broken"]["error"]
    assert cases["fine"]["status"] == "passed"


@pytest.mark.parametrize("block, message", [
    ("retry: {max_retries: -1}", "`retry.max_retries` must be at least 0, got -1"),
    ("retry: {max_retries: 1.5}", "`retry.max_retries` must be a whole number, got float 1.5"),
    ("retry: {timeout: 0}", "`retry.timeout` must be more than 0, got 0"),
    ("retry: {timeout: fast}", "`retry.timeout` must be a number, got str 'fast'"),
    ("retry: {max_retires: 2}", "unknown key 'max_retires' in `retry`; did you mean 'max_retries'?"),
    ("retry: 3", "`retry` in the suite must be a mapping like `retry: {max_retries: 5, timeout: 30}`, got int 3"),
    ("rate_limit: {rpm: 0}", "`rate_limit.rpm` must be more than 0, got 0"),
    ("rate_limit: {tpm: true}", "`rate_limit.tpm` must be a number, got bool True"),
    ("rate_limit: {rps: 3}", "unknown key 'rps' in `rate_limit`; did you mean 'rpm'?"),
])  # fmt: skip
def test_bad_retry_and_rate_limit_blocks_are_exit_2_with_file_and_line(block, message, harness_cli, write_suite):
    suite = write_suite(f"model: m\n{block}\ncases: [{{id: a, turns: [{{user: hi}}]}}]\n")
    r = harness_cli("validate", suite)
    assert r.code == 2
    assert f"{suite.name}:2:" in r.err and message in r.err, r.err
