/* sernet-bench: benchmarks (figures printed, never asserted) and developer tools (the engine on
 * a fixed batch, the PyTorch parity dump). Not part of the user's `sernet`. */
#include "bench/bench.h"

static const sn_cli_command COMMANDS[] = {
    {"bench", sn_cmd_bench, "benchmark one net in one mode (images/s, GFLOP/s, memory)"},
    {"bench-phash", sn_cmd_bench_phash, "benchmark the perceptual hash and the Hamming search"},
    {"bench-pseudo", sn_cmd_bench_pseudo, "pseudo-anomalies generated per second (PPA, DPA)"},
    {"bench-conv", sn_cmd_bench_conv, "time the 3x3 convolution algorithms on a net's layer shapes"},
    {"bench-eval", sn_cmd_bench_eval, "benchmark anomaly maps per second and metric time"},
    {"loadbench", sn_cmd_loadbench, "measure the sharded dataset loader's throughput"},
    {"toytrain", sn_cmd_toytrain, "train both nets on a fixed random batch (engine check)"},
    {"dump-engine", sn_cmd_dump_engine, "write a net's tensors for the PyTorch parity test"},
    {"results-diff", sn_cmd_results_diff, "max and mean difference of two results files (fp32 vs bf16)"},
};

int main(int argc, char **argv)
{
    return sn_cli_main("sernet-bench", COMMANDS, (int)(sizeof COMMANDS / sizeof COMMANDS[0]), argc, argv);
}
