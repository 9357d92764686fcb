"""Process exit codes, the contract CI gates on (see README, "Exit codes")."""

OK = 0  # everything passed
FAILED = 1  # a check failed, or compare found a regression
BAD_INPUT = 2  # suite, template, flag or file problem, found before any request
NOT_EVALUATED = 3  # a case could not be evaluated (API error after retries, missing/stale cassette); wins over 1


def for_counts(failed: int, errored: int) -> int:
    if errored:
        return NOT_EVALUATED
    if failed:
        return FAILED
    return OK


def for_summary(summary) -> int:  # noqa: ANN001 (harness.core.result.Summary; not imported, to keep this module bare)
    """Per case, after the gates: failures tolerated by `allow_fail` or a suite's `min_pass_rate` do not count."""
    # A case left unfinished was not evaluated either (a signal exits 130/143 before this matters).
    return for_counts(summary.failed - summary.tolerated, summary.errored + getattr(summary, "interrupted", 0))
