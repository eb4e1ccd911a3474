/* sernet-bench: benchmarks and developer tools, a separate program from the user's `sernet`
 * (docs/cli.md "sernet-bench"). Each command is one sn_cmd_* in this folder; they use the
 * shared option parser and messages of src/cli/cli.h and link the in-tree library. */
#ifndef SN_BENCH_H
#define SN_BENCH_H

#include "cli/cli.h"

int sn_cmd_bench(int argc, char **argv);
int sn_cmd_toytrain(int argc, char **argv);
int sn_cmd_dump_engine(int argc, char **argv);
int sn_cmd_bench_phash(int argc, char **argv);
int sn_cmd_loadbench(int argc, char **argv);
int sn_cmd_bench_pseudo(int argc, char **argv);
int sn_cmd_bench_eval(int argc, char **argv);
int sn_cmd_results_diff(int argc, char **argv);
int sn_cmd_bench_conv(int argc, char **argv);

#endif
