/* MPI helpers shared by every distributed step: collective agreement on errors and sharding. */
#ifndef SERNET_DIST_H
#define SERNET_DIST_H

#include <mpi.h>
#include <stdint.h>

#include "sernet/common.h"

/* Collective over comm. Returns SN_OK when every rank passed SN_OK. Otherwise every rank returns
 * the status of the lowest-numbered failing rank, and every rank's recorded error message
 * (sn_err_msg) becomes that rank's message, so whichever rank prints reports the real cause.
 * A failing MPI call itself gives SN_EMPI. Call it before any collective step that follows work
 * which may have failed on some ranks only. */
sn_status sn_dist_agree(sn_status local, MPI_Comm comm);

/* Contiguous shard of n items for `rank` of `size`: the first n % size ranks get one item more.
 * Shards may be empty (count 0, begin = n) when size > n. */
void sn_dist_shard(int64_t n, int rank, int size, int64_t *begin, int64_t *count);

int sn_dist_rank(MPI_Comm comm);
int sn_dist_size(MPI_Comm comm);

/* Run an MPI call; if it does not return MPI_SUCCESS record SN_EMPI naming the call and jump to
 * `done` (the SN_FAIL convention: needs `sn_status status` and a `done:` label). Every MPI call
 * in src/ is checked (tests/mpi_checked.sh); the program runs with MPI_ERRORS_RETURN. */
#define SN_MPI_TRY(call) \
    do { if ((call) != MPI_SUCCESS) SN_FAIL(SN_EMPI, "%s failed", #call); } while (0)

#endif
