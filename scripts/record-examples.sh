#!/usr/bin/env bash
# Re-record the example cassettes (cassettes/) against a real OpenAI-compatible server:
# llama.cpp's server (llama-cpp-python) running SmolLM2-135M-Instruct on 127.0.0.1.
# Installs into its own virtualenv on first use (builds llama.cpp: several minutes), starts the
# server, records every example suite, replays them once to prove they replay, and stops it.
#   scripts/record-examples.sh            # record what is missing or stale
#   MODE=record scripts/record-examples.sh  # re-record everything
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE="${MODE:-record-missing}"
HARNESS="${HARNESS:-$ROOT/.venv/bin/harness}"
[[ -x "$HARNESS" ]] || { echo "install the project first: python3 -m venv .venv && .venv/bin/pip install -e ." >&2; exit 2; }

BASE_URL="$(scripts/start-llama-server.sh)"
started_here=1
trap '[[ -n "${started_here:-}" ]] && scripts/start-llama-server.sh stop >/dev/null' EXIT
echo "recording against $BASE_URL (mode $MODE)"
# The local server needs no key; make sure a real one is never sent or written.
# A generous --timeout: on a busy two-core machine one CPU-bound reply can take minutes. A case that still
# errors is re-run alone with: harness run --rerun errored --from reports/recording --cassettes record-missing
env -u OPENAI_API_KEY "$HARNESS" run evals/ --cassettes "$MODE" --base-url "$BASE_URL" --concurrency 1 --timeout 300 \
  --out reports/recording
env -u OPENAI_API_KEY -u OPENAI_BASE_URL "$HARNESS" run evals/ --out reports/replay-check -q
