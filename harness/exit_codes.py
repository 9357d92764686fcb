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
