/* The one GEMM interface of the engine: C = alpha * op(A) * op(B) + beta * C, row-major,
 * with op(X) = X or X^T. Backed by BLIS (typed API, strides) or OpenBLAS (CBLAS), chosen at
 * configure time (SERNET_GEMM). Calls are single-threaded: the engine parallelises over
 * images and tiles itself, so each call runs in the calling thread. */
#ifndef SERNET_GEMM_H
#define SERNET_GEMM_H

#include "sernet/common.h"

void sn_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
             const float *b, int ldb, float beta, float *c, int ldc);

/* Plain triple loop with the same contract, kept as the reference for tests. */
void sn_gemm_ref(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                 int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* "blis" or "openblas". */
const char *sn_gemm_backend(void);
/* Human-readable description, e.g. "blis 0.9.0 (arch: generic)". */
const char *sn_gemm_describe(void);
/* Set up the backend for single-threaded calls from engine threads; call once at start. */
void sn_gemm_init(void);

#endif
