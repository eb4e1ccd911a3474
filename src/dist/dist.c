#include "sernet/dist.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

int sn_dist_rank(MPI_Comm comm)
{
    int r = 0;
    if (MPI_Comm_rank(comm, &r) != MPI_SUCCESS)
        return 0;
    return r;
}

int sn_dist_size(MPI_Comm comm)
{
    int s = 1;
    if (MPI_Comm_size(comm, &s) != MPI_SUCCESS)
        return 1;
    return s;
}

void sn_dist_shard(int64_t n, int rank, int size, int64_t *begin, int64_t *count)
{
    SN_ASSERT(n >= 0 && size > 0 && rank >= 0 && rank < size);
    int64_t base = n / size, rem = n % size;
    *count = base + (rank < rem ? 1 : 0);
    *begin = (int64_t)rank * base + (rank < rem ? rank : rem);
}

sn_status sn_dist_agree(sn_status local, MPI_Comm comm)
{
    int rank = sn_dist_rank(comm), size = sn_dist_size(comm);
    int mine = local != SN_OK ? rank : size, first = size;
    if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
        return SN_ERR(SN_EMPI, "MPI_Allreduce failed while agreeing on the status of %d ranks", size);
    if (first == size)
        return SN_OK;
    struct {
        int status;
        char msg[1000];
    } pack;
    memset(&pack, 0, sizeof pack);
    if (rank == first) {
        pack.status = (int)local;
        snprintf(pack.msg, sizeof pack.msg, "%s", sn_err_msg()[0] ? sn_err_msg() : sn_status_name(local));
    }
    if (MPI_Bcast(&pack, (int)sizeof pack, MPI_BYTE, first, comm) != MPI_SUCCESS)
        return SN_ERR(SN_EMPI, "MPI_Bcast of the error of rank %d failed", first);
    if (rank != first) {
        sn_err_clear();
        if (size > 1)
            SN_ERR((sn_status)pack.status, "%s (on rank %d)", pack.msg, first);
        else
            SN_ERR((sn_status)pack.status, "%s", pack.msg);
    }
    return (sn_status)pack.status;
}
