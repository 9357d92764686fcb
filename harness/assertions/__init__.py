"""Named checks a reply must pass. Importing this package registers them all."""

from harness.assertions import custom, graded, reply, safety, structured, text  # noqa: F401  (registers the checks)
from harness.assertions.registry import (
    REGISTRY,
    CheckContext,
    CheckSpec,
    Outcome,
    all_check_names,
    check,
    resolve,
    run_check,
    run_check_async,
    suggest,
)

__all__ = [
    "REGISTRY",
    "CheckContext",
    "CheckSpec",
    "Outcome",
    "all_check_names",
    "check",
    "resolve",
    "run_check",
    "run_check_async",
    "suggest",
]
