"""A case rendered and ready to send: what the runner executes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.core.policy import DEFAULT_POLICY, CasePolicy
from harness.core.specs import Budget, EndpointSpec
from harness.core.suite import Case, Check, Suite


@dataclass
class PlannedTurn:
    index: int
    user: str | None
    checks: list[Check]
    fail_on_length: bool
    tool_results: dict[str, str] = field(default_factory=dict)
    budget: Budget | None = None


@dataclass
class CasePlan:
    """One case, rendered and ready to send: what the runner executes."""

    suite: Suite
    case: Case
    model: str
    params: dict[str, Any]
    system: str | None
    history: list[dict[str, Any]]
    turns: list[PlannedTurn]
    api: str = "chat"  # the provider that sends its requests (harness.providers.registry)
    history_mode: str = "resend"  # `history:` resend (the whole conversation each turn) or previous_response_id
    policy: CasePolicy = DEFAULT_POLICY  # repeats, pass_if, threshold, allow_fail, the suite's min_pass_rate
    variant: str = ""  # the suite's variant this plan runs under ("" when the suite has none)
    endpoint: EndpointSpec | None = None  # the server its requests go to (None: the run's --base-url)
    grader_endpoint: EndpointSpec | None = None  # the server of its model-graded checks (None: as the case's)
    # The project files each message text was read from (its prompt file, then what that includes),
    # by slot: "system", "messages[0]", "turn 1". Reports name them beside a prompt change.
    prompt_files: dict[str, list[str]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The case id as reports print it: with its variant in brackets when it has one."""
        return f"{self.case.id} [{self.variant}]" if self.variant else self.case.id

    @property
    def key(self) -> tuple[str, str]:
        return (self.suite.name, self.label)

    @property
    def repeats(self) -> int:
        return self.policy.repeats

    def initial_messages(self) -> list[dict[str, Any]]:
        """System prompt plus the fixed history: what precedes the first turn."""
        messages: list[dict[str, Any]] = []
        if self.system is not None:
            messages.append({"role": "system", "content": self.system})
        messages.extend(dict(m) for m in self.history)
        return messages
