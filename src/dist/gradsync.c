/* Bucketed gradient allreduce overlapped with the backward pass (sernet/gradsync.h). */
#include "sernet/gradsync.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

sn_status sn_gradsync_init(sn_gradsync *g, MPI_Comm comm, float *buf, size_t n, double bucket_mb)
{
    sn_status status = SN_OK;
    memset(g, 0, sizeof *g);
    if (!(bucket_mb > 0.0) || bucket_mb * 1048576.0 / sizeof(float) > (double)INT_MAX)
        SN_FAIL(SN_EINVAL, "allreduce_bucket_mb = %g: expected more than 0 and at most %.0f (MPI "
                "counts are ints)", bucket_mb, (double)INT_MAX * sizeof(float) / 1048576.0);
    g->comm = comm;
    g->buf = buf;
    g->n = n;
    g->bucket = (size_t)(bucket_mb * 1048576.0 / sizeof(float));
    if (g->bucket < 1)
        g->bucket = 1;
    const size_t nb = (n + g->bucket - 1) / g->bucket;
    if (nb > INT_MAX)
        SN_FAIL(SN_EINVAL, "allreduce_bucket_mb = %g cuts %zu gradients into %zu buckets; use larger "
                "buckets", bucket_mb, n, nb);
    g->nb = (int)nb;
    if (g->nb > 0)
        SN_ALLOC(g->req, g->nb, "gradient allreduce requests");
    for (int b = 0; b < g->nb; b++)
        g->req[b] = MPI_REQUEST_NULL;
done:
    return status;
}

void sn_gradsync_free(sn_gradsync *g)
{
    if (!g)
        return;
    sn_free(g->req);
    g->req = NULL;
    g->nb = 0;
}

void sn_gradsync_begin(sn_gradsync *g)
{
    SN_ASSERT(g->req || g->nb == 0);
    for (int b = 0; b < g->nb; b++)
        SN_ASSERT(g->req[b] == MPI_REQUEST_NULL); /* the last step's finish waited for all */
    g->next = 0;
    g->failed = 0;
    g->what[0] = '\0';
}

/* Bucket b covers buf[lo, hi). */
static void bucket_range(const sn_gradsync *g, int b, size_t *lo, size_t *hi)
{
    *hi = g->n - (size_t)b * g->bucket;
    *lo = *hi > g->bucket ? *hi - g->bucket : 0;
}

static void record_failure(sn_gradsync *g, const char *call, int b)
{
    if (!g->failed)
        snprintf(g->what, sizeof g->what, "%s of bucket %d of %d failed", call, b + 1, g->nb);
    g->failed = 1;
}

/* Start bucket g->next. */
static void start_next(sn_gradsync *g)
{
    const int b = g->next++;
    size_t lo, hi;
    bucket_range(g, b, &lo, &hi);
    if (MPI_Iallreduce(MPI_IN_PLACE, g->buf + lo, (int)(hi - lo), MPI_FLOAT, MPI_SUM, g->comm,
                       &g->req[b]) != MPI_SUCCESS) {
        g->req[b] = MPI_REQUEST_NULL;
        record_failure(g, "MPI_Iallreduce", b);
    }
}

void sn_gradsync_ready(size_t from, void *ctx)
{
    sn_gradsync *g = ctx;
    SN_ASSERT(from <= g->n);
    const double t0 = MPI_Wtime();
    while (g->next < g->nb) {
        size_t lo, hi;
        bucket_range(g, g->next, &lo, &hi);
        if (lo < from)
            break; /* part of it is still to be computed */
        start_next(g);
    }
    /* progress for the started buckets (Open MPI moves them on mostly inside MPI calls) */
    int flag = 0;
    if (g->next > 0 && MPI_Testall(g->next, g->req, &flag, MPI_STATUSES_IGNORE) != MPI_SUCCESS)
        record_failure(g, "MPI_Testall", g->next - 1);
    g->t_during += MPI_Wtime() - t0;
}

sn_status sn_gradsync_finish(sn_gradsync *g)
{
    sn_status status = SN_OK;
    const double t0 = MPI_Wtime();
    while (g->next < g->nb)
        start_next(g);
    if (g->nb > 0 && MPI_Waitall(g->nb, g->req, MPI_STATUSES_IGNORE) != MPI_SUCCESS) {
        record_failure(g, "MPI_Waitall", g->nb - 1);
        for (int b = 0; b < g->nb; b++) /* nothing more to wait for: the step fails */
            g->req[b] = MPI_REQUEST_NULL;
    }
    g->t_wait += MPI_Wtime() - t0;
    if (g->failed)
        SN_FAIL(SN_EMPI, "gradient allreduce (%zu floats in buckets of %zu): %s", g->n, g->bucket,
                g->what);
done:
    return status;
}
