#!/usr/bin/env bash
# Installs the system packages mbc builds and runs with (Debian/Ubuntu; run as root or with sudo).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    pkg-config libopenblas-dev libopenmpi-dev openmpi-bin zlib1g-dev libjpeg62-turbo-dev >/dev/null
echo "mbc: system packages installed (OpenBLAS, Open MPI, zlib, libjpeg-turbo)"
