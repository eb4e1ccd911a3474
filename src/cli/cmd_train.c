/* sernet train: data-parallel training with checkpoints and exact resume (docs/training.md). */
#include "cli/cli.h"
#include "sernet/dist.h"
#include "sernet/threads.h"
#include "sernet/train.h"

#include <getopt.h>
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
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'},     {"out", required_argument, 0, 'o'},
        {"category", required_argument, 0, 'C'}, {"stage", required_argument, 0, 'S'},
        {"resume", no_argument, 0, 'r'},         {"stop-after", required_argument, 0, 'n'},
        {"quiet", no_argument, 0, 'q'},          {"config", required_argument, 0, 'c'},
        {"set", required_argument, 0, 's'},      {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    sn_cli_config_args ca = {0};
    sn_train_opts o = {0};
    o.stage = SN_TRAIN_SEG;
    int opt;
    char *end;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (sn_cli_config_option(&ca, opt, optarg))
            continue;
        switch (opt) {
        case 'd': o.data = optarg; break;
        case 'o': o.out = optarg; break;
        case 'C': o.category = optarg; break;
        case 'r': o.resume = 1; break;
        case 'q': o.quiet = 1; break;
        case 'S':
            if (strcmp(optarg, "seg") == 0)
                o.stage = SN_TRAIN_SEG;
            else if (strcmp(optarg, "rec") == 0)
                o.stage = SN_TRAIN_REC;
            else if (strcmp(optarg, "all") == 0)
                o.stage = SN_TRAIN_ALL;
            else
                return sn_cli_usage_error("train", usage, "--stage '%s': expected seg, rec or all", optarg);
            break;
        case 'n':
            o.stop_after = strtol(optarg, &end, 10);
            if (*end || o.stop_after < 1)
                return sn_cli_usage_error("train", usage, "--stop-after '%s': expected a positive integer", optarg);
            break;
        case 'h': fputs(usage, stdout); return SN_EXIT_OK;
        case ':': return sn_cli_usage_error("train", usage, "option '%s' needs a value", argv[optind - 1]);
        default: return sn_cli_usage_error("train", usage, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return sn_cli_usage_error("train", usage, "unexpected argument '%s'", argv[optind]);
    if (!o.data || !o.out)
        return sn_cli_usage_error("train", usage, "--data and --out are required");

    sn_config cfg;
    sn_status status = sn_dist_agree(sn_cli_config_resolve(&ca, &cfg), MPI_COMM_WORLD);
    int interrupted = 0;
    if (status == SN_OK) {
        sn_cli_config_announce("train", &cfg);
        sn_threads_set(cfg.threads);
        sn_train_install_signals();
        status = sn_train_run(&cfg, &o, MPI_COMM_WORLD, &interrupted);
    }
    return status == SN_OK ? SN_EXIT_OK : sn_cli_fail("train");
}
