#!/usr/bin/env bash
# Continue a run from its newest checkpoint: launch/resume.sh RUN_DIR [-np N] [--hostfile FILE] [...]
# The run's resolved config (RUN_DIR/config.yaml) is used, so the run continues as it started.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: launch/resume.sh RUN_DIR [-np N] [--hostfile FILE] [mbc-train arguments...]" >&2; exit 2; }
run=$1; shift
[ -f "$run/config.yaml" ] || { echo "launch/resume.sh: '$run' has no config.yaml; is it a run directory?" >&2; exit 2; }
exec "$(dirname "$0")/train.sh" "$run/config.yaml" --run-dir "$run" --resume auto "$@"
