# Sourced by launch scripts: on AMD Zen (family 0x17 and later) sets OPENBLAS_CORETYPE=Zen unless
# already set, since OpenBLAS 0.3.21 takes Zen 4 for Cooperlake and its Zen kernels train this
# network faster here (BENCHMARKS.md, "OpenBLAS kernel choice").
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -q AuthenticAMD /proc/cpuinfo 2>/dev/null \
   && [ "$(awk '/^cpu family/ {print $4; exit}' /proc/cpuinfo)" -ge 23 ]; then
    export OPENBLAS_CORETYPE=Zen
fi
