"""Context-window strategies: drop_oldest, summarize (plan/splice), error."""

from __future__ import annotations

from harness.metering.tokens import count_chat_tokens
from harness.metering.truncation import (
    SUMMARY_INSTRUCTION,
    apply_summary,
    check_fits,
    drop_oldest,
    plan_summary,
    splice_summary,
    summary_request,
)


def words(messages: list[dict]) -> int:
    """A transparent counter: 3 per message + 1 per word + 3 reply priming."""
    return sum(3 + len(str(m.get("content") or "").split()) for m in messages) + 3


def msg(role: str, n_words: int, tag: str) -> dict:
    return {"role": role, "content": " ".join([tag] * n_words)}


SYSTEM = msg("system", 5, "sys")
U1, A1 = msg("user", 10, "u1"), msg("assistant", 10, "a1")
U2, A2 = msg("user", 10, "u2"), msg("assistant", 10, "a2")
U3, A3 = msg("user", 10, "u3"), msg("assistant", 10, "a3")
U4 = msg("user", 10, "u4")
CONVERSATION = [SYSTEM, U1, A1, U2, A2, U3, A3, U4]  # 8 + 7 x 13 + 3 = 102 tokens


def test_drop_oldest_removes_exactly_the_oldest_exchanges():
    assert words(CONVERSATION) == 102
    # without u1/a1/u2/a2: 102 - 52 = 50 tokens; + 10 reserved = 60 fits, 76 (one dropped) would not
    outcome = drop_oldest(CONVERSATION, words, window=60, reserved_completion=10)
    assert outcome.messages == [SYSTEM, U3, A3, U4]
    assert outcome.dropped == [U1, A1, U2, A2]
    assert outcome.fits and outcome.prompt_tokens == 50
    assert outcome.note == "dropped 2 oldest exchanges (4 messages, 52 tokens) to fit 60-token window"


def test_drop_oldest_single_exchange_note_and_no_op():
    outcome = drop_oldest(CONVERSATION, words, window=76 + 10, reserved_completion=10)
    assert outcome.messages == [SYSTEM, U2, A2, U3, A3, U4]
    assert outcome.note == "dropped 1 oldest exchange (2 messages, 26 tokens) to fit 86-token window"
    untouched = drop_oldest(CONVERSATION, words, window=200, reserved_completion=10)
    assert untouched.messages == CONVERSATION and untouched.dropped == [] and untouched.fits
    assert untouched.prompt_tokens == 102


def test_drop_oldest_drops_tool_calls_with_their_exchange_and_keeps_every_system_message():
    call = {"role": "assistant", "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]}
    result = {"role": "tool", "tool_call_id": "c1", "content": "42 " * 20}
    mid_system = msg("developer", 3, "dev")
    messages = [SYSTEM, U1, call, result, A1, mid_system, U2, A2, U3]
    outcome = drop_oldest(messages, words, window=words(messages) - 1)
    assert outcome.dropped == [U1, call, result, A1]
    assert outcome.messages == [SYSTEM, mid_system, U2, A2, U3]


def test_drop_oldest_keeps_the_newest_turn_with_its_pending_tool_calls():
    call = {"role": "assistant", "content": "checking",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    result = {"role": "tool", "tool_call_id": "c1", "content": "ok"}
    messages = [SYSTEM, U1, A1, U2, call, result]
    outcome = drop_oldest(messages, words, window=words([SYSTEM, U2, call, result]))
    assert outcome.messages == [SYSTEM, U2, call, result]


def test_drop_oldest_impossible_when_system_and_newest_turn_alone_overflow():
    big = msg("user", 200, "huge")
    messages = [SYSTEM, U1, A1, big]
    outcome = drop_oldest(messages, words, window=150, reserved_completion=20)
    assert not outcome.fits
    assert outcome.messages == messages and outcome.dropped == []
    minimal = words([SYSTEM, big])  # 8 + 203 + 3 = 214
    assert minimal == 214
    assert outcome.note == (
        "the system messages and newest user turn alone need 214 tokens + 20 reserved for the "
        "completion > 150-token window; the full conversation has 240 tokens"
    )


def test_error_strategy_reports_without_changing_anything():
    outcome = check_fits(CONVERSATION, words, window=100, reserved_completion=0)
    assert not outcome.fits and outcome.messages == CONVERSATION and outcome.prompt_tokens == 102
    assert outcome.note == "the messages need 102 tokens + 0 reserved for the completion > 100-token window"
    assert check_fits(CONVERSATION, words, window=102).fits


def test_drop_oldest_with_the_real_gpt4o_counter():
    def count(messages: list[dict]) -> int:
        return count_chat_tokens(messages, "gpt-4o")

    system = {"role": "system", "content": "You are a support agent for Acme Router."}
    history = []
    for i in range(6):
        history.append({"role": "user", "content": f"Question {i}: my Wi-Fi drops every few minutes, what now?"})
        history.append({"role": "assistant", "content": f"Answer {i}: restart the router and update firmware."})
    newest = {"role": "user", "content": "I already rebooted twice. Anything else?"}
    messages = [system, *history, newest]
    window = count([system, *history[-4:], newest]) + 50  # room for two exchanges, reserving 50
    outcome = drop_oldest(messages, count, window=window, reserved_completion=50)
    assert outcome.fits
    assert outcome.messages == [system, *history[-4:], newest]
    assert outcome.prompt_tokens == count(outcome.messages)
    assert outcome.prompt_tokens + 50 <= window < count([system, *history[-6:], newest]) + 50
    dropped_tokens = count(messages) - outcome.prompt_tokens
    assert outcome.note == (
        f"dropped 4 oldest exchanges (8 messages, {dropped_tokens} tokens) to fit {window}-token window"
    )


def test_summarize_plan_splits_head_oldest_and_tail():
    # head + tail without u1/a1: 102 - 26 = 76; + 20 summary budget + 4 reserved = 100
    plan = plan_summary(CONVERSATION, words, window=100, reserved_completion=4, summary_tokens=20)
    assert plan.head == [SYSTEM]
    assert plan.to_summarize == [U1, A1]
    assert plan.tail == [U2, A2, U3, A3, U4]
    assert plan.exchanges == 1 and plan.fits and plan.summarized_tokens == 26
    tighter = plan_summary(CONVERSATION, words, window=99, reserved_completion=4, summary_tokens=20)
    assert tighter.to_summarize == [U1, A1, U2, A2] and tighter.tail == [U3, A3, U4]


def test_summarize_request_and_splice():
    plan = plan_summary(CONVERSATION, words, window=100, reserved_completion=4, summary_tokens=20)
    request = summary_request(plan)
    assert request[0] == {"role": "system", "content": SUMMARY_INSTRUCTION}
    assert "concise" in SUMMARY_INSTRUCTION.lower()
    assert request[1]["role"] == "user"
    assert request[1]["content"] == f"User: {U1['content']}\n\nAssistant: {A1['content']}"
    spliced = splice_summary(plan, "  Dana's Wi-Fi drops; she was told to restart.  ")
    assert spliced == [
        SYSTEM,
        {"role": "system",
         "content": "Summary of the earlier conversation: Dana's Wi-Fi drops; she was told to restart."},
        U2, A2, U3, A3, U4,
    ]
    outcome = apply_summary(plan, "Dana's Wi-Fi drops.", words, window=100, reserved_completion=4)
    assert outcome.fits and outcome.dropped == [U1, A1]
    # head + tail = 76, plus the summary message: 3 framing + 8 words ("Summary of the earlier ... drops.")
    assert outcome.prompt_tokens == 76 + 3 + 8
    assert outcome.note == "summarized 1 oldest exchange (2 messages, 26 tokens) to fit 100-token window"


def test_summarize_reports_when_even_a_summary_cannot_make_room():
    plan = plan_summary(CONVERSATION, words, window=30, summary_tokens=20)
    assert not plan.fits
    assert plan.to_summarize == [U1, A1, U2, A2, U3, A3] and plan.tail == [U4]
    nothing = plan_summary(CONVERSATION, words, window=500)
    assert nothing.to_summarize == [] and nothing.fits and splice_summary(nothing, "x") == CONVERSATION
