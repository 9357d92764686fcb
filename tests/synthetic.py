"""Synthetic runs for report tests and benchmarks/report_bench.py: any size, shaped like real ones.

Each case is a 1-3 turn conversation built the way the runner builds it (every
request repeats the history), with replies of realistic length, usage,
latency and checks; about 8% of cases fail and 2% error. ``variant`` makes a
"head" run from the same seed: a changed system prompt and some flipped checks.
"""

from __future__ import annotations

import random

from harness.core.reply import Completion, Usage
from harness.core.result import ERROR, FAILED, PASSED, CaseResult, CheckResult, RunResult, TurnResult
from harness.providers.chat import ChatCompletionsProvider

WORDS = ("router restart the your please check cable light firmware settings network signal channel band modem "
         "reset power wait minutes support ticket account password update device connection speed test "
         "interference neighbour frequency antenna placement wall distance floor office laptop").split()  # fmt: skip
USERS = (
    "My Wi-Fi keeps dropping every few minutes. What should I try first?",
    "I already restarted the router twice. What else can I do?",
    "Can you summarise the steps in one sentence?",
    "Which band should I use for a laptop two rooms away?",
    "The status light is blinking orange. Is that bad?",
)


def _text(rng: random.Random, words: int) -> str:
    out = [rng.choice(WORDS) for _ in range(words)]
    out[0] = out[0].capitalize()
    text = " ".join(out)
    return ". ".join(text[i : i + 90].strip() for i in range(0, len(text), 90)) + "."


def synthetic_run(n: int = 10_000, seed: int = 7, variant: bool = False, suites: int = 20) -> RunResult:
    rng = random.Random(seed)
    system = "You are a friendly support agent for the Acme X200 router. Answer in two or three short sentences."
    if variant:
        system += " Never recommend a factory reset."
    cases = []
    for i in range(n):
        suite = f"suite-{i % suites:02d}"
        turns_n = rng.choice((1, 2, 2, 3))
        fate = rng.random()
        if variant and rng.random() < 0.05:
            fate = 0.05  # head: some cases flip to failing
        history = [{"role": "system", "content": system}]
        turns = []
        for t in range(1, turns_n + 1):
            history.append({"role": "user", "content": rng.choice(USERS)})
            sent = list(history)
            if fate < 0.02 and t == turns_n:
                turns.append(TurnResult(t, sent, {"temperature": 0, "max_tokens": 120},
                                        error="HTTP 500 after 3 retries: The server had an error"))  # fmt: skip
                break
            words = rng.randint(25, 90)
            content = _text(rng, words)
            if i % 997 == 0:
                content += ' <script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
            prompt = sum(len(str(m["content"]).split()) for m in sent) + 4 * len(sent)
            usage = Usage(prompt, words + 3, prompt + words + 3)
            reply = Completion(content, "stop", usage, model="synthetic-model", id=f"chatcmpl-{i}-{t}",
                               latency_ms=round(rng.uniform(150, 2500), 1))  # fmt: skip
            failing = fate < 0.10 and t == turns_n
            checks = [
                CheckResult("finish_reason", True, "finish_reason is 'stop'", "stop"),
                CheckResult("contains_any", not failing,
                            "reply contains 'router' at position 12" if not failing else
                            f"expected reply to contain any of ['router', 'restart'], got {content[:60]!r}",
                            ["router", "restart"]),  # fmt: skip
                CheckResult("max_completion_tokens", True, f"completion tokens {words + 3} <= 120", 120),
            ]
            turns.append(TurnResult(t, sent, {"temperature": 0, "max_tokens": 120}, reply, checks,
                                    cost_usd=round(usage.total_tokens * 2e-7, 8)))  # fmt: skip
            history.append(ChatCompletionsProvider.assistant_message(reply))
        status = ERROR if any(t.error for t in turns) else FAILED if any(not t.passed for t in turns) else PASSED
        error = next((f"turn {t.index}: {t.error}" for t in turns if t.error), None)
        cases.append(CaseResult(suite, f"case-{i:05d}", status, f"evals/{suite}.yaml", "synthetic-model", turns,
                                error, round(rng.uniform(200, 6000), 1)))  # fmt: skip
    settings = {"paths": ["evals/"], "model": None, "cassettes": "replay", "concurrency": 8}
    return RunResult(settings, cases, "2026-01-01T00:00:00+00:00", 123_456.0)


def synthetic_variant_run(n: int = 1_000, variants: tuple[str, ...] = ("baseline", "terse", "mini", "responses"),
                          suites: int = 5) -> RunResult:  # fmt: skip
    """A run of ``n`` cases under each of ``variants`` (``n * len(variants)`` results), each variant its own seed."""
    cases = []
    for k, name in enumerate(variants):
        for c in synthetic_run(n, seed=7 + k, suites=suites).cases:
            c.variant = name
            cases.append(c)
    return RunResult({"model": "synthetic-model", "cassettes": "replay"}, cases)
