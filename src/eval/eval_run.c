/* The eval stage's run function (sernet/eval_run.h). */
#include "sernet/eval_run.h"
#include "sernet/baseline.h"
#include "sernet/dist.h"

#include <string.h>

sn_status sn_eval_run(const sn_eval_options *o, MPI_Comm comm, sn_eval_summary *summary)
{
    const sn_evaluate_options *w = &o->what;
    memset(summary, 0, sizeof *summary);
    /* the same on every rank: no agreement needed before returning */
    if (!o->cfg || !w->data || (!w->results && w->baseline != SN_BASELINE_SOBEL) || w->worst < 0)
        return SN_ERR(SN_EINVAL, "eval: a configuration, the dataset file and a results file (except "
                      "for the sobel baseline) are required, worst >= 0");
    if (w->store_thresholds && w->baseline != SN_BASELINE_NONE)
        return SN_ERR(SN_EINVAL, "eval: storing thresholds stores SeRNet's thresholds, not a baseline's");
    double t0 = MPI_Wtime();
    sn_status st = sn_evaluate_run(o->cfg, w, comm);
    if (st != SN_OK)
        return st;
    double secs = MPI_Wtime() - t0;
    if (MPI_Allreduce(MPI_IN_PLACE, &secs, 1, MPI_DOUBLE, MPI_MAX, comm) != MPI_SUCCESS)
        return SN_ERR(SN_EMPI, "MPI_Allreduce of the evaluation time failed");
    summary->seconds = secs;
    summary->ranks = sn_dist_size(comm);
    return SN_OK;
}
