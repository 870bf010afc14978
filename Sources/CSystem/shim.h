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

// 1 if this x86-64 CPU (and its OS, which must save the 512-bit state) runs x86-64-v4 code:
// Haswell's set plus AVX-512 F, BW, CD, DQ and VL, what `-target-cpu x86-64-v4` builds
// MBSignGEMM512 for (Intel Skylake-SP and later Xeons, AMD Zen 4 and later).
static inline int mbc_cpu_runs_x86_64_v4_code(void) {
#if defined(__x86_64__)
    return mbc_cpu_runs_haswell_code() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

// The CPU features that decide which OpenBLAS kernels mbc asks for (MBCore.CPUFeatures has the
// same bits). The AVX-512 bits are set only when the OS saves the 512-bit state too.
enum {
    MBC_CPU_AMD = 1 << 0, MBC_CPU_INTEL = 1 << 1, MBC_CPU_AVX2 = 1 << 2, MBC_CPU_FMA = 1 << 3,
    MBC_CPU_AVX512F = 1 << 4, MBC_CPU_AVX512BW = 1 << 5, MBC_CPU_AVX512DQ = 1 << 6,
    MBC_CPU_AVX512VL = 1 << 7, MBC_CPU_AVX512BF16 = 1 << 8, MBC_CPU_AVXVNNI = 1 << 9,
};

static inline unsigned mbc_cpu_features(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    unsigned f = 0;
    if (__builtin_cpu_is("amd")) f |= MBC_CPU_AMD;
    if (__builtin_cpu_is("intel")) f |= MBC_CPU_INTEL;
    if (__builtin_cpu_supports("avx2")) f |= MBC_CPU_AVX2;
    if (__builtin_cpu_supports("fma")) f |= MBC_CPU_FMA;
    if (__builtin_cpu_supports("avx512f")) f |= MBC_CPU_AVX512F;
    if (__builtin_cpu_supports("avx512bw")) f |= MBC_CPU_AVX512BW;
    if (__builtin_cpu_supports("avx512dq")) f |= MBC_CPU_AVX512DQ;
    if (__builtin_cpu_supports("avx512vl")) f |= MBC_CPU_AVX512VL;
    if (__builtin_cpu_supports("avx512bf16")) f |= MBC_CPU_AVX512BF16;
    if (__builtin_cpu_supports("avxvnni")) f |= MBC_CPU_AVXVNNI;
    return f;
#else
    return 0;
#endif
}
