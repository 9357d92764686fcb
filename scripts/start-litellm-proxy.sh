#!/usr/bin/env bash
# Start (or `stop`) LiteLLM's proxy on 127.0.0.1 in front of the local llama.cpp server
# (scripts/start-llama-server.sh, started here if it is not running), so the same SmolLM2 model
# is also served through the OpenAI Responses API (/v1/responses) as well as Chat Completions.
# First run installs LiteLLM into its own virtualenv (~5 min).
#   scripts/start-litellm-proxy.sh        -> prints base URL, e.g. http://127.0.0.1:4000/v1
#   scripts/start-litellm-proxy.sh stop   (stops the proxy only, never the llama server)
# Env: LITELLM_VENV (default .venv-litellm in the repo root), LITELLM_PORT (4000),
#      LITELLM_MASTER_KEY (default sk-local-prompt-harness: clients send it as OPENAI_API_KEY),
#      LITELLM_UPSTREAM (default: the base URL printed by scripts/start-llama-server.sh),
#      LITELLM_MODEL_NAME (smollm2-135m-instruct: the model name clients ask for).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LITELLM_VENV:-.venv-litellm}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
PORT="${LITELLM_PORT:-4000}"
MODEL_NAME="${LITELLM_MODEL_NAME:-smollm2-135m-instruct}"
# Local-only default: the proxy listens on loopback and fronts a local model, so this is no secret.
export LITELLM_MASTER_KEY="${LITELLM_MASTER_KEY:-sk-local-prompt-harness}"
# Config, pid and log live in a temp dir keyed by port, so `stop` works whichever venv started it.
STATE="${TMPDIR:-/tmp}/prompt-harness-litellm-$PORT"
PIDFILE="$STATE/litellm-proxy.pid"
LOG="$STATE/litellm-proxy.log"
CONFIG="$STATE/config.yaml"
BASE="http://127.0.0.1:$PORT/v1"

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
usage_note() { echo "clients: OPENAI_BASE_URL=$BASE OPENAI_API_KEY=\$LITELLM_MASTER_KEY, model $MODEL_NAME" >&2; }

if [[ "${1:-start}" == "stop" ]]; then
  if running; then kill "$(cat "$PIDFILE")"; echo "stopped litellm proxy (pid $(cat "$PIDFILE"))"; fi
  rm -f "$PIDFILE"
  exit 0
fi

if running; then usage_note; echo "$BASE"; exit 0; fi

PY="$VENV/bin/python"
if ! [[ -x "$PY" ]] || ! "$PY" -c 'import litellm.proxy.proxy_server' 2>/dev/null; then
  echo "installing litellm[proxy] into $VENV (several minutes)..." >&2
  [[ -x "$PY" ]] || python3 -m venv "$VENV"
  echo '*' >"$VENV/.gitignore"
  "$PY" -m pip install -q 'litellm[proxy]==1.108.7' >&2
fi

UPSTREAM="${LITELLM_UPSTREAM:-$("$ROOT/scripts/start-llama-server.sh")}"
UPSTREAM="${UPSTREAM%/}"

mkdir -p "$STATE"
# lm_studio/ (not openai/): LiteLLM then has no native Responses backend for the model and bridges
# /v1/responses onto the upstream's /v1/chat/completions; with openai/ it would forward
# /v1/responses verbatim and llama.cpp answers 404. The key is read from the environment.
cat >"$CONFIG" <<EOF
model_list:
  - model_name: $MODEL_NAME
    litellm_params:
      model: lm_studio/$MODEL_NAME
      api_base: $UPSTREAM
      api_key: none
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
EOF

# Everything LiteLLM would otherwise fetch from the internet at start-up is read from its package,
# telemetry is vetoed, and no database is used: only the master key authenticates, and
# previous_response_id is accepted but ignored (LiteLLM rebuilds the history from DB spend logs).
export LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOCAL_BLOG_POSTS=True LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS=True \
       LITELLM_LOCAL_AUTOROUTER_PRESETS=True LITELLM_LOCAL_POLICY_TEMPLATES=True LITELLM_TELEMETRY_DISABLED=True \
       NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost"

cd "$STATE"   # anything the proxy writes to its working directory stays out of the repo
setsid nohup env -u DATABASE_URL -u OPENAI_API_KEY -u OPENAI_BASE_URL -u LM_STUDIO_API_KEY -u LM_STUDIO_API_BASE \
  "$VENV/bin/litellm" --config "$CONFIG" --host 127.0.0.1 --port "$PORT" --num_workers 1 >"$LOG" 2>&1 </dev/null &
echo $! >"$PIDFILE"

for _ in $(seq 120); do
  if curl -sf "http://127.0.0.1:$PORT/health/liveliness" >/dev/null 2>&1; then usage_note; echo "$BASE"; exit 0; fi
  running || { echo "litellm proxy exited; see $LOG" >&2; tail -20 "$LOG" >&2; rm -f "$PIDFILE"; exit 1; }
  sleep 1
done
echo "litellm proxy did not answer within 120s; see $LOG" >&2
exit 1
