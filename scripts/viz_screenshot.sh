#!/usr/bin/env bash
# Build kedro-viz offline (`kedro viz build`), serve the static build on 127.0.0.1, open it
# in headless Chromium and save a screenshot: the check that the pipeline graph renders.
#   scripts/viz_screenshot.sh [output.png] [pipeline]      (default: build/kedro_viz.png, __default__)
# Needs Debian's chromium (`apt-get install chromium`); no network is used.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-build/kedro_viz.png}"
pipeline="${2:-__default__}"
export KEDRO_DISABLE_TELEMETRY=1
.venv/bin/kedro viz build
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/python -m http.server "$port" --bind 127.0.0.1 --directory build >/dev/null 2>&1 &
server=$!
trap 'kill $server' EXIT
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.2
done
mkdir -p "$(dirname "$out")"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$(mktemp -d)" --window-size=1600,1000 --virtual-time-budget=20000 \
  --screenshot="$out" "http://127.0.0.1:$port/?pid=$pipeline" 2>/dev/null
test -s "$out"
echo "screenshot: $out"
