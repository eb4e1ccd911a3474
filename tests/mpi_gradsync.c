/* The gradient allreduce overlapped with the backward pass (sernet/gradsync.h) and the U-Net's
 * notifications it relies on (sn_unet_set_grad_ready), at 1, 2 and 3 ranks:
 * - the notifications: `from` falls from call to call to 0, one call per conv unit (and the output
 *   convolution), and every gradient reported final already has the value it ends with;
 * - the buckets: each notification starts exactly the buckets lying wholly in the final range,
 *   all are started by the end of the backward, and the sums equal a blocking MPI_Allreduce of
 *   the same local gradients (bit for bit at 1 and 2 ranks, within 1e-6 of the sum of magnitudes
 *   at 3, where Open MPI may add in another order), with the BatchNorm reductions' blocking
 *   allreduces interleaved as in training, for one bucket, a few and many;
 * - a rank whose backward never ran (as after a local failure) starts every bucket in
 *   sn_gradsync_finish: no rank hangs and the sums are still right. */
#include "sn_test.h"
#include "sernet/dist.h"
#include "sernet/gradsync.h"
#include "sernet/loss.h"
#include "sernet/unet.h"

#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#define S 32
#define MAXCALLS 256

static void bn_allreduce(double *buf, int n, void *ctx)
{
    if (MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, *(MPI_Comm *)ctx) != MPI_SUCCESS)
        abort();
}

/* Net of `kind`, a rank-dependent batch of 2 images, one training forward and the loss gradient. */
static sn_unet *setup(sn_net_kind kind, int units, int rank, const sn_reduce_hook *bn, sn_tensor *x,
                      sn_tensor *dout)
{
    sn_unet *net = NULL;
    EXPECT(sn_unet_create(&net, kind, 4, units, 1e-5, 0.1) == SN_OK);
    sn_unet_init(net, 11);
    const int oc = sn_unet_out_channels(net);
    sn_tensor t;
    memset(&t, 0, sizeof t);
    EXPECT(sn_tensor_alloc(x, 2, 3, S, S, "x") == SN_OK && sn_tensor_alloc(&t, 2, oc, S, S, "t") == SN_OK &&
           sn_tensor_alloc(dout, 2, oc, S, S, "dout") == SN_OK);
    uint64_t s = 99 + 1000 * (uint64_t)rank;
    for (size_t i = 0; i < sn_tensor_numel(x); i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x->data[i] = (float)((s >> 40) & 0xFFFF) / 65535.0f;
    }
    for (size_t i = 0; i < sn_tensor_numel(&t); i++)
        t.data[i] = (float)((i * 7 + i / 13 + (size_t)rank) % 5) / 4.0f;
    const sn_tensor *out;
    EXPECT(sn_unet_forward(net, x, 1, bn, &out) == SN_OK);
    sn_ssim_params sp;
    sn_ssim_defaults(&sp, 11, 1.5);
    sn_loss_sums sums;
    EXPECT(sn_loss_compute(&sp, out, &t, (double)sn_tensor_numel(out), &sums, dout) == SN_OK);
    sn_tensor_free(&t);
    sn_unet_zero_grad(net);
    return net;
}

/* What the notifications said: `from` of each call, the gradients as they were when reported
 * final, and (with a gradsync) the buckets started by then. */
typedef struct {
    sn_unet *net;
    sn_gradsync *g;
    float *snap;
    size_t prev;
    int calls, bad_order;
    size_t from[MAXCALLS];
    int started[MAXCALLS];
} recorder;

static void record(size_t from, void *ctx)
{
    recorder *r = ctx;
    if (from >= r->prev || r->calls >= MAXCALLS) {
        r->bad_order = 1;
        return;
    }
    memcpy(r->snap + from, sn_unet_grads(r->net) + from, (r->prev - from) * sizeof(float));
    r->from[r->calls] = from;
    r->prev = from;
    if (r->g) {
        sn_gradsync_ready(from, r->g);
        r->started[r->calls] = r->g->next;
    }
    r->calls++;
}

/* Buckets of g lying wholly in [from, n). */
static int buckets_in(const sn_gradsync *g, size_t from)
{
    int k = 0;
    for (int b = 0; b < g->nb; b++) {
        const size_t hi = g->n - (size_t)b * g->bucket, lo = hi > g->bucket ? hi - g->bucket : 0;
        k += lo >= from;
    }
    return k;
}

static void check_notifications(sn_net_kind kind, int units, int rank)
{
    sn_tensor x, dout;
    sn_unet *net = setup(kind, units, rank, NULL, &x, &dout);
    const size_t n = sn_unet_param_count(net);
    recorder r;
    memset(&r, 0, sizeof r);
    r.net = net;
    r.prev = n;
    r.snap = calloc(n, sizeof(float));
    sn_unet_set_grad_ready(net, &(sn_grad_ready_hook){record, &r});
    EXPECT(sn_unet_backward(net, &dout, NULL) == SN_OK);
    const int blocks = kind == SN_NET_SEG ? 5 : 9;
    EXPECT_MSG(!r.bad_order && r.calls == blocks * units + 1 && r.from[r.calls - 1] == 0,
               "%s units %d: %d notifications (want %d), order %s, last from %zu", sn_unet_kind_name(kind),
               units, r.calls, blocks * units + 1, r.bad_order ? "wrong" : "falling",
               r.calls ? r.from[r.calls - 1] : n);
    EXPECT_MSG(memcmp(r.snap, sn_unet_grads(net), n * sizeof(float)) == 0,
               "%s units %d: gradients changed after they were reported final", sn_unet_kind_name(kind), units);
    free(r.snap);
    sn_tensor_free(&x);
    sn_tensor_free(&dout);
    sn_unet_free(net);
}

/* The overlapped sums against a blocking allreduce of the same local gradients. skip_rank: this
 * rank runs no backward (its local gradients are a fixed pattern) and only calls finish. */
static void check_sums(sn_net_kind kind, int units, size_t bucket_floats, int bn_reduce, int skip_rank)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    const int rank = sn_dist_rank(comm), size = sn_dist_size(comm);
    sn_reduce_hook bn = {bn_allreduce, &comm};
    sn_tensor x, dout;
    sn_unet *net = setup(kind, units, rank, bn_reduce ? &bn : NULL, &x, &dout);
    const size_t n = sn_unet_param_count(net);
    float *grads = sn_unet_grads(net);
    sn_gradsync g;
    EXPECT(sn_gradsync_init(&g, comm, grads, n, (double)bucket_floats * sizeof(float) / 1048576.0) == SN_OK);
    EXPECT(g.bucket == bucket_floats || (bucket_floats > n && g.nb == 1));
    recorder r;
    memset(&r, 0, sizeof r);
    r.net = net;
    r.g = &g;
    r.prev = n;
    r.snap = calloc(n, sizeof(float)); /* the local gradients, copied before their bucket starts */
    sn_unet_set_grad_ready(net, &(sn_grad_ready_hook){record, &r});
    sn_gradsync_begin(&g);
    if (rank == skip_rank) {
        for (size_t i = 0; i < n; i++)
            grads[i] = r.snap[i] = (float)((i % 17) - 8) * 1e-3f;
    } else {
        EXPECT(sn_unet_backward(net, &dout, bn_reduce ? &bn : NULL) == SN_OK);
        EXPECT_MSG(g.next == g.nb, "all %d buckets started during the backward (%d)", g.nb, g.next);
        int wrong = 0;
        for (int c = 0; c < r.calls; c++)
            wrong += r.started[c] != buckets_in(&g, r.from[c]);
        EXPECT_MSG(wrong == 0, "%d notifications started other buckets than those wholly final", wrong);
    }
    EXPECT(sn_gradsync_finish(&g) == SN_OK);
    float *want = malloc(n * sizeof(float)), *mag = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        mag[i] = fabsf(r.snap[i]);
    EXPECT(MPI_Allreduce(r.snap, want, (int)n, MPI_FLOAT, MPI_SUM, comm) == MPI_SUCCESS);
    EXPECT(MPI_Allreduce(MPI_IN_PLACE, mag, (int)n, MPI_FLOAT, MPI_SUM, comm) == MPI_SUCCESS);
    if (size <= 2) {
        EXPECT_MSG(memcmp(grads, want, n * sizeof(float)) == 0,
                   "%s, %d buckets of %zu floats, %d ranks: bit for bit equal to the blocking allreduce",
                   sn_unet_kind_name(kind), g.nb, g.bucket, size);
    } else {
        size_t bad = 0, where = 0;
        for (size_t i = 0; i < n; i++)
            if (!(fabsf(grads[i] - want[i]) <= 1e-6f * mag[i])) {
                bad++;
                where = i;
            }
        EXPECT_MSG(bad == 0, "%s, %d buckets, %d ranks: %zu sums beyond 1e-6 of their magnitude (e.g. %zu: "
                   "%.9g vs %.9g)", sn_unet_kind_name(kind), g.nb, size, bad, where, grads[where], want[where]);
    }
    free(want);
    free(mag);
    free(r.snap);
    sn_gradsync_free(&g);
    sn_tensor_free(&x);
    sn_tensor_free(&dout);
    sn_unet_free(net);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    EXPECT(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN) == MPI_SUCCESS);
    const int rank = sn_dist_rank(MPI_COMM_WORLD);
    check_notifications(SN_NET_SEG, 1, rank);
    check_notifications(SN_NET_REC, 2, rank);

    sn_gradsync g;
    EXPECT(sn_gradsync_init(&g, MPI_COMM_WORLD, NULL, 10, 0.0) == SN_EINVAL);
    EXPECT(sn_gradsync_init(&g, MPI_COMM_WORLD, NULL, 10, -1.0) == SN_EINVAL);

    /* seg width 4: 3865 gradients; rec width 4 with 2 units per block: about 77 600 */
    check_sums(SN_NET_SEG, 1, 1 << 20, 1, -1); /* one bucket */
    check_sums(SN_NET_SEG, 1, 300, 1, -1);     /* 13 buckets, several per notification */
    check_sums(SN_NET_REC, 2, 5000, 1, -1);    /* 16 buckets */
    check_sums(SN_NET_REC, 2, 64, 1, -1);      /* 1213, layers split over buckets */
    check_sums(SN_NET_SEG, 1, 300, 0, 1);      /* rank 1 (if any) runs no backward */
    check_sums(SN_NET_REC, 2, 5000, 0, 0);     /* rank 0 runs no backward */
    int st = sn_test_finish();
    MPI_Finalize();
    return st;
}
