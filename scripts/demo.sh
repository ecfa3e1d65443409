#!/usr/bin/env bash
# The bundled demo on the embedded defaults: the PBX, the app, and one test call through them.
set -euo pipefail
cd "$(dirname "$0")/.."
ivr=.venv/bin/ivr

$ivr check
$ivr pbx up
log=$(mktemp -t ivr-demo-run.XXXXXX.log)
$ivr run >"$log" 2>&1 &
app=$!
trap 'kill $app 2>/dev/null; wait $app 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "ARI events: connected" "$log" && break
  kill -0 $app 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done

echo
echo "== A caller dials 100, hears the prompt and presses 1 2 3 4 # =="
$ivr call 100 --dtmf '1234#'
echo
echo "== What the app logged =="
cat "$log"
echo
echo "The PBX is still up: try 'ivr call 100 --dtmf 42#' with 'ivr run' running,"
echo "'ivr pbx cli \"core show channels\"', and stop it with '.venv/bin/ivr pbx down'."
