"""Base URL checks live in the floor (``harness.core.base_url``): suites check their `endpoints:` with them too."""

from harness.core.base_url import base_url_problem

__all__ = ["base_url_problem"]
