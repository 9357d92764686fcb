"""Everything that shapes a run, with one set of defaults for every front door."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.core.cassette_mode import CassetteMode
from harness.core.redaction import redact_url

DEFAULT_CONCURRENCY = 8
DEFAULT_CASSETTE_DIR = "cassettes"


@dataclass
class RunSettings:
    """Everything that shapes a run; saved in results.json and run.json (never the key).

    ``timeout``, ``max_retries`` and ``retry_base_delay`` left as None mean "the
    suite's `retry:` block, else the default"; given, they win over the suite.
    """

    paths: list[str] = field(default_factory=list)
    model: str | None = None
    base_url: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    cassette_mode: CassetteMode = CassetteMode.REPLAY
    cassette_dir: str = DEFAULT_CASSETTE_DIR
    timeout: float | None = None
    max_retries: int | None = None
    rpm: float | None = None
    tpm: float | None = None
    retry_base_delay: float | None = None
    cases: list[str] = field(default_factory=list)  # --case patterns
    repeat: int | None = None  # --repeat: runs of every case, over the suites' `repeat:`
    variants: list[str] = field(default_factory=list)  # --variant names (none: every variant)
    api: str | None = None  # --api: the API of every case, over the suites' `api:`
    batch: bool = False  # --batch: send through the OpenAI Batch API, one batch per conversation round
    workers: int = 1  # --workers: processes the cases are split over (harness/execution/workers.py)
    # Not saved: the share of every rate limit (--rpm/--tpm, endpoints' and suites' `rate_limit:`) this
    # process may use; 1/N in each of N workers, so the run as a whole keeps the limits.
    rate_share: float = 1.0

    def __post_init__(self) -> None:
        self.cassette_mode = CassetteMode(self.cassette_mode)  # a mode's spelling is accepted; a wrong one raises

    def to_dict(self) -> dict[str, Any]:
        return {
            "paths": self.paths,
            "model": self.model,
            "base_url": redact_url(self.base_url),
            "concurrency": self.concurrency,
            "cassettes": self.cassette_mode.value,
            "cassette_dir": self.cassette_dir,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "retry_base_delay": self.retry_base_delay,
            "cases": self.cases,
            "repeat": self.repeat,
            "variants": self.variants,
            "api": self.api,
            "batch": self.batch,
            "workers": self.workers,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSettings:
        """The inverse of ``to_dict``, tolerant of keys added or missing across versions."""
        return cls(
            paths=[str(p) for p in data.get("paths") or []],
            model=data.get("model"),
            base_url=data.get("base_url"),
            concurrency=int(data.get("concurrency") or DEFAULT_CONCURRENCY),
            cassette_mode=CassetteMode(data.get("cassettes") or CassetteMode.REPLAY),
            cassette_dir=data.get("cassette_dir") or DEFAULT_CASSETTE_DIR,
            timeout=data.get("timeout"),
            max_retries=data.get("max_retries"),
            rpm=data.get("rpm"),
            tpm=data.get("tpm"),
            retry_base_delay=data.get("retry_base_delay"),
            cases=[str(c) for c in data.get("cases") or []],
            repeat=data.get("repeat"),
            variants=[str(v) for v in data.get("variants") or []],
            api=data.get("api"),
            batch=data.get("batch") is True,
            workers=int(data.get("workers") or 1),
        )
