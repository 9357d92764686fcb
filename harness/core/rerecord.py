"""The command that re-records cassettes, to paste as it is: one place builds it for every message.

A run prints it per case when replay finds no recording; `harness run` and
`harness compare` print it once per suite, with every case that needs it. The
flags that change what is recorded or where (--model, --repeat, --cassette-dir,
--base-url) are the run's own; the base URL is the run's, else the one the
cassettes were recorded from.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from harness.core.cassette_mode import CassetteMode
from harness.core.redaction import redact_url
from harness.core.settings import DEFAULT_CASSETTE_DIR

NO_BASE_URL = "(add --base-url URL for a server other than api.openai.com)"


def literal_pattern(case_id: str) -> str:
    """A --case pattern that matches exactly this id (its wildcard characters escaped)."""
    return re.sub(r"([*?\[])", r"[\1]", case_id)


def rerecord_command(suite_file: str, case_ids: Sequence[str], *, variants: Sequence[str] = (),
                     model: str | None = None, api: str | None = None, repeat: int | None = None,
                     cassette_dir: str = DEFAULT_CASSETTE_DIR, base_url: str | None = None,
                     mode: CassetteMode = CassetteMode.RECORD_MISSING) -> str:  # fmt: skip
    """`harness run SUITE --case A --case B --cassettes record-missing ...`, shell-quoted, nothing appended.

    ``variants``: the suite's variants to record (`--variant`), none for a suite without `variants:`.
    ``mode``: record-missing, or record for a broken cassette (record-missing reports one, never overwrites it).
    """
    words = ["harness", "run", suite_file]
    for case_id in case_ids:
        words += ["--case", literal_pattern(case_id)]
    for variant in variants:
        words += ["--variant", variant]
    words += ["--cassettes", mode.value]
    if model:
        words += ["--model", model]
    if api:
        words += ["--api", api]
    if repeat:
        words += ["--repeat", str(repeat)]
    if cassette_dir and cassette_dir != DEFAULT_CASSETTE_DIR:
        words += ["--cassette-dir", cassette_dir]
    if base_url:
        words += ["--base-url", redact_url(base_url) or ""]
    return " ".join(shlex.quote(word) for word in words)
