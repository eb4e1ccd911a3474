/* sernet: the subcommand dispatcher. */
#include "cli/cli.h"
#include "sernet/h5util.h"

#include <mpi.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>

static const sn_cli_command COMMANDS[] = {
    {"version", sn_cmd_version, "print program, GEMM backend, MPI and HDF5 versions"},
    {"config", sn_cmd_config, "print the resolved configuration or the key reference"},
    {"phash", sn_cmd_phash, "print the perceptual hash (ImageHash phash) of image files"},
    {"bench-phash", sn_cmd_bench_phash, "benchmark the perceptual hash and the Hamming search"},
    {"index", sn_cmd_index, "compute and store the training-image hash index of a dataset file"},
    {"similar", sn_cmd_similar, "find the most similar training images (phash Hamming search)"},
    {"ingest", sn_cmd_ingest, "turn an MVTec AD layout folder into a dataset file"},
    {"synth", sn_cmd_synth, "write the embedded synthetic inspection dataset"},
    {"loadbench", sn_cmd_loadbench, "measure the sharded dataset loader's throughput"},
    {"info", sn_cmd_info, "describe a file written by sernet (or report it damaged/foreign)"},
    {"pseudo", sn_cmd_pseudo, "write PNG sheets of PPA or DPA training samples"},
    {"train", sn_cmd_train, "two-stage training on MPI ranks (checkpoints, exact resume)"},
    {"infer", sn_cmd_infer, "score a test split on MPI ranks into a results file (resumable)"},
    {"eval", sn_cmd_eval, "metrics, JSON, /metrics and a report folder of a results file"},
    {"export", sn_cmd_export, "write PNG panels (image, truth, heat map, prediction, reconstruction)"},
    {"score", sn_cmd_score, "score image files with a model, as an inspection station would"},
    {"bundle", sn_cmd_bundle, "one self-contained file to deploy: nets, thresholds, training images"},
    {"calibrate", sn_cmd_calibrate, "store decision thresholds in a model (held-out good images or given)"},
    {"bench-pseudo", sn_cmd_bench_pseudo, "pseudo-anomalies generated per second (PPA, DPA)"},
    {"toytrain", sn_cmd_toytrain, "train both nets on a fixed random batch (engine check)"},
    {"bench", sn_cmd_bench, "benchmark one net in one mode (images/s, GFLOP/s, memory)"},
    {"dump-engine", sn_cmd_dump_engine, "write a net's tensors for the PyTorch parity test"},
    {"bench-eval", sn_cmd_bench_eval, "benchmark anomaly maps per second and metric time"},
};
#define N_COMMANDS ((int)(sizeof COMMANDS / sizeof COMMANDS[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: sernet <command> [options]   (sernet <command> --help for details)\n\n"
               "commands:\n");
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-13s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f, "\nglobal options: --help, --version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "sernet: missing command\n");
        usage(stderr);
        return SN_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return SN_EXIT_OK;
    }
    const char *name = strcmp(argv[1], "--version") == 0 ? "version" : argv[1];
    for (int i = 0; i < N_COMMANDS; i++) {
        if (strcmp(COMMANDS[i].name, name) != 0)
            continue;
        int provided = 0;
        if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            fprintf(stderr, "sernet: MPI_Init_thread failed\n");
            return SN_EXIT_FAIL;
        }
        /* Errors are returned, not fatal, so every failure takes the collective error path. */
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        int rc = COMMANDS[i].run(argc - 1, argv + 1);
        if (sn_h5_poisoned()) {
            /* HDF5 holds a file it could not close; its clean-up in MPI_Finalize would crash */
            fflush(stdout);
            fflush(stderr);
            _exit(rc ? rc : SN_EXIT_FAIL);
        }
        MPI_Finalize();
        return rc;
    }
    fprintf(stderr, "sernet: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return SN_EXIT_USAGE;
}
