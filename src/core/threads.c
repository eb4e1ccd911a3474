#define _GNU_SOURCE
#include "sernet/threads.h"
#include "sernet/gemm.h"

#include <malloc.h>
#include <omp.h>
#include <sched.h>
#include <stdlib.h>

static int n_threads = 1;

static int cpus_allowed(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int c = CPU_COUNT(&set);
        if (c > 0)
            return c;
    }
    return 1;
}

/* Activations and scratch are freed and reallocated in every step; keeping freed memory in
 * the heap instead of returning it to the kernel avoids hundreds of thousands of page faults
 * (and the zeroing of fresh pages) per training step. */
static void tune_allocator(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

void sn_threads_set(int n)
{
    tune_allocator();
    if (n <= 0) {
        const char *env = getenv("OMP_NUM_THREADS");
        n = env ? atoi(env) : 0;
        if (n <= 0)
            n = cpus_allowed();
    }
    n_threads = n;
    omp_set_num_threads(n);
    sn_gemm_init();
}

int sn_threads_get(void) { return n_threads; }
