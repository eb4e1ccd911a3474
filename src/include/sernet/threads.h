/* Threads per rank. The engine parallelises its own loops with OpenMP and keeps the GEMM
 * backend single-threaded inside them, so the two never oversubscribe the cores. */
#ifndef SERNET_THREADS_H
#define SERNET_THREADS_H

/* n <= 0 means: OMP_NUM_THREADS if set, else the CPUs this process may run on. */
void sn_threads_set(int n);
int sn_threads_get(void);

#endif
