/* sernet train: data-parallel training with checkpoints and exact resume (docs/training.md). */
#include "cli/cli.h"
#include "sernet/dist.h"
#include "sernet/stop.h"
#include "sernet/threads.h"
#include "sernet/train.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sn_cmd_train(int argc, char **argv)
{
    static const char usage[] =
        "usage: sernet train --data DATA.h5 --out MODEL.h5 [--category NAME] [--stage seg|rec|all]\n"
        "                    [--resume] [--stop-after STEPS] [--quiet] [--config FILE]\n"
        "                    [--set key=value]...\n"
        "Train on the training split of one category, on any number of MPI ranks (the result does\n"
        "not depend on it). The model file is a checkpoint, written atomically by rank 0 every\n"
        "checkpoint_every steps and at the end; --resume continues from it bit for bit (same\n"
        "configuration, same thread count). SIGTERM or SIGUSR1 make every rank finish the step,\n"
        "write the checkpoint and exit 0. --stop-after N does the same once N steps of the\n"
        "running stage are done.\n"
        "Stages: seg (default) trains the segmentation net on PPA samples; rec calibrates the\n"
        "repair threshold (if not yet done), freezes the segmentation net read from MODEL.h5 and\n"
        "trains the reconstruction net on repaired PPA/DPA samples; all runs both in order.\n";
    sn_cli_config_args ca = {0};
    sn_train_options o = {0};
    o.stage = SN_TRAIN_SEG;
    const char *stage = NULL;
    long long stop_after = 0;
    int pos = 0;
    const sn_cli_opt opts[] = {{"data", SN_OPT_STR, &o.data, 0, 0},
                               {"out", SN_OPT_STR, &o.out, 0, 0},
                               {"category", SN_OPT_STR, &o.category, 0, 0},
                               {"stage", SN_OPT_STR, &stage, 0, 0},
                               {"resume", SN_OPT_FLAG, &o.resume, 0, 0},
                               {"stop-after", SN_OPT_LONG, &stop_after, 1, 9e15},
                               {"quiet", SN_OPT_FLAG, &o.quiet, 0, 0},
                               SN_OPT_END};
    int prc = sn_cli_parse("train", usage, argc, argv, opts, &ca, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    if (pos < argc)
        return sn_cli_usage_error("train", usage, "unexpected argument '%s'", argv[pos]);
    o.stop_after = (long)stop_after;
    if (stage && strcmp(stage, "seg") == 0)
        o.stage = SN_TRAIN_SEG;
    else if (stage && strcmp(stage, "rec") == 0)
        o.stage = SN_TRAIN_REC;
    else if (stage && strcmp(stage, "all") == 0)
        o.stage = SN_TRAIN_ALL;
    else if (stage)
        return sn_cli_usage_error("train", usage, "--stage '%s': expected seg, rec or all", stage);
    if (!o.data || !o.out)
        return sn_cli_usage_error("train", usage, "--data and --out are required");

    sn_status status = sn_dist_agree(sn_cli_config_resolve(&ca, &o.cfg), MPI_COMM_WORLD);
    if (status == SN_OK) {
        sn_cli_config_announce("train", &o.cfg);
        sn_threads_set(o.cfg.threads);
        sn_stop_install_signals();
        status = sn_train_run(&o, MPI_COMM_WORLD, NULL);
    }
    return status == SN_OK ? SN_EXIT_OK : sn_cli_fail("train");
}
