/* sernet: the user's program (the pipeline, inspection and file tools). Benchmarks and
 * developer tools are in the separate sernet-bench (src/bench/main.c). */
#include "cli/cli.h"

static const sn_cli_command COMMANDS[] = {
    {"version", sn_cmd_version, "print program, GEMM backend, MPI and HDF5 versions"},
    {"config", sn_cmd_config, "print the resolved configuration or the key reference"},
    {"phash", sn_cmd_phash, "print the perceptual hash (ImageHash phash) of image files"},
    {"index", sn_cmd_index, "compute and store the training-image hash index of a dataset file"},
    {"similar", sn_cmd_similar, "find the most similar training images (phash Hamming search)"},
    {"ingest", sn_cmd_ingest, "turn an MVTec AD layout folder into a dataset file"},
    {"synth", sn_cmd_synth, "write the embedded synthetic inspection dataset"},
    {"info", sn_cmd_info, "describe a file written by sernet (or report it damaged/foreign)"},
    {"pseudo", sn_cmd_pseudo, "write PNG sheets of PPA or DPA training samples"},
    {"train", sn_cmd_train, "two-stage training on MPI ranks (checkpoints, exact resume)"},
    {"infer", sn_cmd_infer, "score a test split on MPI ranks into a results file (resumable)"},
    {"eval", sn_cmd_eval, "metrics, JSON, /metrics and a report folder of a results file"},
    {"export", sn_cmd_export, "write PNG panels (image, truth, heat map, prediction, reconstruction)"},
    {"score", sn_cmd_score, "score image files with a model, as an inspection station would"},
    {"bundle", sn_cmd_bundle, "one self-contained file to deploy: nets, thresholds, training images"},
    {"calibrate", sn_cmd_calibrate, "store decision thresholds in a model (held-out good images or given)"},
};

int main(int argc, char **argv)
{
    return sn_cli_main("sernet", COMMANDS, (int)(sizeof COMMANDS / sizeof COMMANDS[0]), argc, argv);
}
