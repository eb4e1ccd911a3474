/* The gradient allreduce overlapped with the backward pass (issue 15 item 2, docs/training.md
 * "Gradient allreduce"). The gradient buffer is cut into buckets of a fixed number of floats
 * counted from its end (bucket 0 is the last `bucket` floats, the bucket at offset 0 holds the
 * remainder); sn_unet_backward finishes gradients from the end of the buffer towards its start
 * (sn_grad_ready_hook), and each bucket's MPI_Iallreduce (sum, in place) starts as soon as every
 * gradient in it is final, so the reduction of the later layers runs while the backward computes
 * the earlier ones. Open MPI progresses non-blocking collectives mostly inside MPI calls, so each
 * notification also tests the started buckets (MPI_Testall), and the BatchNorm reductions of the
 * backward progress them too.
 *
 * The cut depends only on the buffer length and the bucket size, never on how far a backward got,
 * so every rank starts the same collectives in the same order even when its backward failed
 * (sn_gradsync_finish starts whatever is left). Sums are the blocking allreduce's bit for bit at 2
 * ranks (a + b is commutative); at 3 or more ranks Open MPI may associate a bucket's sum in
 * another order than one allreduce of the whole buffer (its algorithm depends on the message
 * size), which changes the last bits. */
#ifndef SERNET_GRADSYNC_H
#define SERNET_GRADSYNC_H

#include <mpi.h>
#include <stddef.h>

#include "sernet/common.h"

typedef struct {
    MPI_Comm comm;
    float *buf;
    size_t n;          /* floats in buf */
    size_t bucket;     /* floats per bucket (the one at offset 0 may be shorter) */
    int nb;            /* buckets */
    int next;          /* buckets started in the current step, counted from the end */
    MPI_Request *req;  /* nb requests, MPI_REQUEST_NULL once complete (or never started) */
    int failed;        /* an MPI call failed in the current step */
    char what[200];    /* the first failure */
    double t_during;   /* seconds inside MPI calls during the backward (starts and tests), summed */
    double t_wait;     /* seconds in sn_gradsync_finish (the exposed part), summed over steps */
} sn_gradsync;

/* Buckets of bucket_mb MiB (rounded down to whole floats, at least one) over buf[0, n). */
sn_status sn_gradsync_init(sn_gradsync *g, MPI_Comm comm, float *buf, size_t n, double bucket_mb);
void sn_gradsync_free(sn_gradsync *g);

/* A new step: no bucket started. Local. */
void sn_gradsync_begin(sn_gradsync *g);

/* The sn_grad_ready_hook function (ctx: the sn_gradsync): buf[from, n) is final; starts every
 * bucket that lies wholly inside it, then tests the started ones. A failed MPI call is recorded
 * for sn_gradsync_finish. Collective in effect: every rank must see the same sequence of calls. */
void sn_gradsync_ready(size_t from, void *ctx);

/* Collective: start the buckets not started yet (all of them if the backward failed early), wait
 * for every bucket. SN_EMPI naming the first failed call, or SN_OK. The status is this rank's:
 * agree it (sn_dist_agree) before further collective steps. */
sn_status sn_gradsync_finish(sn_gradsync *g);

#endif
