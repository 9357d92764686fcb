"""The statuses a case result can have; every layer spells them from here."""

PASSED = "passed"
FAILED = "failed"
ERROR = "error"
SKIPPED = "skipped"
INTERRUPTED = "interrupted"
STATUSES = (PASSED, FAILED, ERROR, SKIPPED, INTERRUPTED)
