// Linux calls that Swift's Glibc module hides behind _GNU_SOURCE.
#define _GNU_SOURCE
#include <sched.h>

// Fills `bits` (`bytes` long) with this process's CPU affinity mask, bit i = CPU i; returns 0 or -1 (errno set).
static inline int mbc_sched_getaffinity(unsigned char *bits, size_t bytes) {
    return sched_getaffinity(0, bytes, (cpu_set_t *)bits);
}
