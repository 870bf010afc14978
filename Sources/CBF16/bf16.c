#include "CBF16.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define MBC_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

MBC_BF16 void mbc_bf16_pack(const float *src, long ld, long rows, long count, uint16_t *dst, long dst_ld) {
    for (long r = 0; r < rows; r++) {
        const float *s = src + r * ld;
        uint16_t *d = dst + r * dst_ld;
        long i = 0;
        for (; i + 32 <= count; i += 32) {
            __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + i + 16), _mm512_loadu_ps(s + i));
            _mm512_storeu_si512(d + i, (__m512i)v);
        }
        long rest = count - i;
        if (rest > 0) {
            __mmask16 low = rest >= 16 ? 0xFFFF : (__mmask16)((1u << rest) - 1);
            __mmask16 high = rest > 16 ? (__mmask16)((1u << (rest - 16)) - 1) : 0;
            __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(high, s + i + 16), _mm512_maskz_loadu_ps(low, s + i));
            _mm512_mask_storeu_epi16(d + i, (__mmask32)((1u << rest) - 1), (__m512i)v);
        }
    }
}

// The four sums of a0, a1, a2, a3 (16 lanes each), in that order.
MBC_BF16 static inline __m128 sum4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    // Per 128-bit lane: [a0 0+2, a1 0+2, a0 1+3, a1 1+3], the same for a2, a3.
    __m512 t0 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1), _mm512_unpackhi_ps(a0, a1));
    __m512 t1 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3), _mm512_unpackhi_ps(a2, a3));
    // Per 128-bit lane: [a0, a1, a2, a3] over that lane's four floats.
    __m512d lo = _mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t1));
    __m512d hi = _mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t1));
    __m512 u = _mm512_add_ps(_mm512_castpd_ps(lo), _mm512_castpd_ps(hi));
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(u), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(u), 1)));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// A 4 x 4 block of C: rows ar[0..3] of A against rows br[0..3] of B (edge blocks repeat a row and
// keep only the first mr x nr sums).
MBC_BF16 static void block4x4(const uint16_t *const ar[4], const uint16_t *const br[4], long k, float *c, long ldc,
                              long mr, long nr) {
    __m512 acc[4][4];
    for (int r = 0; r < 4; r++)
        for (int s = 0; s < 4; s++) acc[r][s] = _mm512_setzero_ps();
    for (long p = 0; p < k; p += 32) {
        __m512bh a[4], b[4];
        for (int r = 0; r < 4; r++) a[r] = (__m512bh)_mm512_loadu_si512(ar[r] + p);
        for (int s = 0; s < 4; s++) b[s] = (__m512bh)_mm512_loadu_si512(br[s] + p);
        for (int r = 0; r < 4; r++)
            for (int s = 0; s < 4; s++) acc[r][s] = _mm512_dpbf16_ps(acc[r][s], a[r], b[s]);
    }
    for (long r = 0; r < mr; r++) {
        __m128 sums = sum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
        float *row = c + r * ldc;
        if (nr == 4) {
            _mm_storeu_ps(row, _mm_add_ps(_mm_loadu_ps(row), sums));
        } else {
            __mmask8 keep = (__mmask8)((1u << nr) - 1);
            _mm_mask_storeu_ps(row, keep, _mm_add_ps(_mm_maskz_loadu_ps(keep, row), sums));
        }
    }
}

MBC_BF16 void mbc_bf16_gemm_nt(long m, long n, long k, const uint16_t *a, long lda, const uint16_t *b, long ldb,
                               float *c, long ldc) {
    for (long i = 0; i < m; i += 4) {
        long mr = m - i < 4 ? m - i : 4;
        const uint16_t *ar[4];
        for (long r = 0; r < 4; r++) ar[r] = a + (i + (r < mr ? r : 0)) * lda;
        for (long j = 0; j < n; j += 4) {
            long nr = n - j < 4 ? n - j : 4;
            const uint16_t *br[4];
            for (long s = 0; s < 4; s++) br[s] = b + (j + (s < nr ? s : 0)) * ldb;
            block4x4(ar, br, k, c + i * ldc + j, ldc, mr, nr);
        }
    }
}

#else

void mbc_bf16_pack(const float *src, long ld, long rows, long count, uint16_t *dst, long dst_ld) { __builtin_trap(); }
void mbc_bf16_gemm_nt(long m, long n, long k, const uint16_t *a, long lda, const uint16_t *b, long ldb,
                      float *c, long ldc) { __builtin_trap(); }

#endif
