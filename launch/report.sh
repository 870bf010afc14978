#!/usr/bin/env bash
# One table from the evaluation logs of one or more run directories: launch/report.sh runs/*
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
binary=${MBC_TRAIN:-$here/.build/release/mbc-train}
[ -x "$binary" ] || (cd "$here" && swift build -c release --product mbc-train >&2)
exec "$binary" report "$@"
