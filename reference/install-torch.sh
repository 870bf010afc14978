#!/usr/bin/env bash
# Installs the PyTorch side of launch/bench-vs-pytorch.sh: PyPI's torch (CPU wheels work) and
# Debian's tcmalloc, which PyTorch needs for a fair comparison (BENCHMARKS.md says why).
# Skips what is already there; run as root or with sudo for the apt-get part.
set -euo pipefail
if ! python3 -c "import torch" 2>/dev/null; then
    python3 -m pip install --quiet torch numpy
fi
# grep reads all of ldconfig's output (not -q): stopping at the first match could kill ldconfig
# with SIGPIPE, which pipefail would report as "not found".
if ! ldconfig -p | grep libtcmalloc_minimal.so.4 >/dev/null; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends libtcmalloc-minimal4 >/dev/null
fi
echo "reference: torch $(python3 -c 'import torch; print(torch.__version__)'), tcmalloc $(ldconfig -p | grep libtcmalloc_minimal.so.4 >/dev/null && echo installed || echo missing)"
