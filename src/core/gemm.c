#include "sernet/gemm.h"

#include <stdio.h>

#if defined(SERNET_GEMM_BLIS)
#include <blis.h>
#elif defined(SERNET_GEMM_OPENBLAS)
#include <cblas.h>
void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);
char *openblas_get_config(void);
#else
#error "define SERNET_GEMM_BLIS or SERNET_GEMM_OPENBLAS"
#endif

void sn_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
             const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
#if defined(SERNET_GEMM_BLIS)
    /* Row-major A (m x k) has row stride lda and column stride 1; a transpose swaps them. */
    inc_t rsa = trans_a ? 1 : lda, csa = trans_a ? lda : 1;
    inc_t rsb = trans_b ? 1 : ldb, csb = trans_b ? ldb : 1;
    /* One thread per call (callers parallelise), and BLIS's small-matrix ("sup") kernels off:
     * the haswell sup kernels of BLIS 0.9 read past the last row of A (a whole row of lda
     * floats at m = 40, k = 300, lda = 3500 under AddressSanitizer; upstream flame/blis#635 is
     * the same class of bug), which is harmless only while the next page happens to be mapped. */
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(1, &rntm);
    bli_rntm_disable_l3_sup(&rntm);
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &alpha, (float *)a, rsa, csa,
                 (float *)b, rsb, csb, &beta, c, ldc, 1, NULL, &rntm);
#else
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                ldc);
#endif
}

void sn_gemm_ref(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                 int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double acc = 0.0;
            for (int p = 0; p < k; p++) {
                float av = trans_a ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                float bv = trans_b ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                acc += (double)av * bv;
            }
            float prev = beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j];
            c[(size_t)i * ldc + j] = (float)(alpha * acc) + prev;
        }
    }
}

const char *sn_gemm_backend(void)
{
#if defined(SERNET_GEMM_BLIS)
    return "blis";
#else
    return "openblas";
#endif
}

const char *sn_gemm_describe(void)
{
    static char buf[256];
#if defined(SERNET_GEMM_BLIS)
    snprintf(buf, sizeof buf, "blis %s (arch: %s)", bli_info_get_version_str(),
             bli_arch_string(bli_arch_query_id()));
#else
    snprintf(buf, sizeof buf, "openblas (%s; core: %s)", openblas_get_config(),
             openblas_get_corename());
#endif
    return buf;
}

void sn_gemm_init(void)
{
#if defined(SERNET_GEMM_BLIS)
    bli_thread_set_num_threads(1);
#else
    openblas_set_num_threads(1);
#endif
}
