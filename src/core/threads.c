#define _GNU_SOURCE
#include "sernet/threads.h"
#include "sernet/gemm.h"

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

void sn_threads_set(int n)
{
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
