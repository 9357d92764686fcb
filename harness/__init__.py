"""prompt-harness: regression tests for prompts against OpenAI-compatible chat APIs."""

__version__ = "0.1.0"
