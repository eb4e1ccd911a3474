/* Pseudo-anomalies are a pure function of their key: ranks that generate disjoint sets of global
 * sample indices (in different orders, with their own scratch) reproduce the serial samples bit
 * for bit, at any rank count. */
#include "sernet/pseudo.h"
#include "sn_test.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>

enum { S = 64, N = 48 };

static sn_status get(void *ctx, int64_t index, float *chw)
{
    (void)ctx;
    for (int i = 0; i < 3 * S * S; i++)
        chw[i] = (float)(((i * 31 + (int)index * 977) % 256) / 255.0);
    return SN_OK;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

/* Hash of sample k of the given kind (0 PPA, 1 DPA). */
static uint64_t sample_hash(int kind, uint64_t k, sn_pseudo_work *w, const float *img, float *out,
                            float *mask)
{
    sn_config cfg;
    sn_config_defaults(&cfg);
    cfg.image_size = S;
    sn_pseudo_params p;
    sn_pseudo_params_from_config(&p, &cfg);
    sn_image_source src = {6, NULL, get};
    sn_pseudo_key key = {99, kind ? SN_RNG_STAGE_REC : SN_RNG_STAGE_SEG, 4, k};
    sn_status st = kind ? sn_pseudo_dpa(&p, &key, img, w, out, mask, NULL)
                        : sn_pseudo_ppa(&p, &key, img, &src, w, out, mask, NULL);
    SN_ASSERT(st == SN_OK);
    uint64_t h = fnv(UINT64_C(0xcbf29ce484222325), out, sizeof(float) * 3 * S * S);
    return fnv(h, mask, sizeof(float) * S * S) | 1; /* never 0: 0 marks "not mine" */
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, size = 1;
    EXPECT(MPI_Comm_rank(MPI_COMM_WORLD, &rank) == MPI_SUCCESS);
    EXPECT(MPI_Comm_size(MPI_COMM_WORLD, &size) == MPI_SUCCESS);
    sn_pseudo_work *w = NULL;
    EXPECT(sn_pseudo_work_create(S, &w) == SN_OK);
    float *img = malloc(sizeof(float) * 3 * S * S), *out = malloc(sizeof(float) * 3 * S * S);
    float *mask = malloc(sizeof(float) * S * S);
    get(NULL, 1, img);
    for (int kind = 0; kind < 2; kind++) {
        uint64_t mine[N] = {0}, all[N] = {0}, serial[N];
        /* Rank r takes the indices k = r, r + size, ...; odd ranks walk them backwards. */
        int count = 0;
        for (int k = rank; k < N; k += size)
            count++;
        for (int j = 0; j < count; j++) {
            int idx = rank % 2 ? count - 1 - j : j;
            uint64_t k = (uint64_t)(rank + idx * size);
            mine[k] = sample_hash(kind, k, w, img, out, mask);
        }
        EXPECT(MPI_Allreduce(mine, all, N, MPI_UINT64_T, MPI_BOR, MPI_COMM_WORLD) == MPI_SUCCESS);
        /* A fresh scratch for the serial run. */
        sn_pseudo_work *w2 = NULL;
        EXPECT(sn_pseudo_work_create(S, &w2) == SN_OK);
        for (int k = 0; k < N; k++)
            serial[k] = sample_hash(kind, (uint64_t)k, w2, img, out, mask);
        sn_pseudo_work_free(w2);
        int same = 0, distinct = 0;
        for (int k = 0; k < N; k++) {
            same += all[k] == serial[k];
            distinct += k == 0 || serial[k] != serial[k - 1];
        }
        EXPECT_MSG(same == N, "%s: %d of %d samples generated across %d ranks equal the serial ones",
                   kind ? "DPA" : "PPA", same, N, size);
        /* Clean samples share a hash; consecutive anomalous ones must not. */
        EXPECT(distinct > N / 4);
    }
    free(img);
    free(out);
    free(mask);
    sn_pseudo_work_free(w);
    int rc = sn_test_finish();
    int worst = rc;
    MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return worst;
}
