#!/usr/bin/env bash
# Re-record the example cassettes (cassettes/) against real OpenAI-compatible servers on 127.0.0.1:
# the Chat Completions suites against llama.cpp's server (llama-cpp-python) running
# SmolLM2-135M-Instruct, and the Responses API suites (`api: responses`) through LiteLLM's proxy in
# front of it (llama.cpp has no /v1/responses). Installs each into its own virtualenv on first use
# (llama.cpp builds from source: several minutes), starts them, records every example suite, replays
# them once to prove they replay, and stops both.
#   scripts/record-examples.sh            # record what is missing or stale
#   MODE=record scripts/record-examples.sh  # re-record everything
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE="${MODE:-record-missing}"
HARNESS="${HARNESS:-$ROOT/.venv/bin/harness}"
[[ -x "$HARNESS" ]] || { echo "install the project first: python3 -m venv .venv && .venv/bin/pip install -e ." >&2; exit 2; }

chat_suites=() responses_suites=()
for suite in evals/*.yaml; do
  if grep -q '^api: *responses' "$suite"; then responses_suites+=("$suite"); else chat_suites+=("$suite"); fi
done

BASE_URL="$(scripts/start-llama-server.sh)"
trap 'scripts/start-litellm-proxy.sh stop >/dev/null; scripts/start-llama-server.sh stop >/dev/null' EXIT
echo "recording ${#chat_suites[@]} Chat Completions suites against $BASE_URL (mode $MODE)"
# The local server needs no key; make sure a real one is never sent or written.
# A generous --timeout: on a busy two-core machine one CPU-bound reply can take minutes. A case that still
# errors is re-run alone with: harness run --rerun errored --from reports/recording --cassettes record-missing
env -u OPENAI_API_KEY "$HARNESS" run "${chat_suites[@]}" --cassettes "$MODE" --base-url "$BASE_URL" --concurrency 1 \
  --timeout 300 --out reports/recording
if ((${#responses_suites[@]})); then
  PROXY_URL="$(LITELLM_UPSTREAM="$BASE_URL" scripts/start-litellm-proxy.sh)"
  echo "recording ${#responses_suites[@]} Responses API suites through LiteLLM's proxy at $PROXY_URL (mode $MODE)"
  # The proxy's own local master key (scripts/start-litellm-proxy.sh); a real OpenAI key is never sent.
  OPENAI_API_KEY="${LITELLM_MASTER_KEY:-sk-local-prompt-harness}" "$HARNESS" run "${responses_suites[@]}" \
    --cassettes "$MODE" --base-url "$PROXY_URL" --concurrency 1 --timeout 300 --out reports/recording-responses
fi
env -u OPENAI_API_KEY -u OPENAI_BASE_URL "$HARNESS" run evals/ --out reports/replay-check -q
