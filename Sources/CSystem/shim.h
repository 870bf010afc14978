// Linux calls that Swift's Glibc module hides behind _GNU_SOURCE.
#define _GNU_SOURCE
#include <sched.h>

// Fills `bits` (`bytes` long) with this process's CPU affinity mask, bit i = CPU i; returns 0 or -1 (errno set).
static inline int mbc_sched_getaffinity(unsigned char *bits, size_t bytes) {
    return sched_getaffinity(0, bytes, (cpu_set_t *)bits);
}

// 1 if this x86-64 CPU (and its OS) runs AVX2, FMA and BMI2 code: the instruction set
// `-target-cpu haswell` builds MBSignGEMM for. Every CPU with these three (Intel Haswell and
// later, AMD Excavator and Zen) also has Haswell's smaller extensions (MOVBE, F16C, LZCNT).
static inline int mbc_cpu_runs_haswell_code(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
#else
    return 0;
#endif
}
