#!/usr/bin/env bash
# `make viz [PIPELINE=analyst]`: kedro viz run on 127.0.0.1, in its own process group, so
# that Ctrl-C, `kill` of this script or the end of make stops kedro-viz's server child too
# (stopping `kedro viz run` alone leaves that child serving the port).
#   scripts/viz.sh <kedro> [extra kedro viz run arguments]
set -euo pipefail
kedro=$1; shift
setsid "$kedro" viz run --host 127.0.0.1 --no-browser "$@" &
group=$!
stop() { kill -TERM -- "-$group" 2>/dev/null || true; wait "$group" 2>/dev/null || true; }
trap stop INT TERM EXIT
wait "$group"
