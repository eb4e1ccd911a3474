/* The sernet command line: one entry per subcommand, shared option handling. */
#ifndef SN_CLI_H
#define SN_CLI_H

#include "sernet/config.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
    const char *summary;
} sn_cli_command;

/* The program name that starts every message ("sernet"; "sernet-bench" in the developer
 * tools' binary, src/bench/). */
extern const char *sn_cli_program;

/* The dispatcher of both programs: `PROGRAM COMMAND [options]` runs the command of cmds[0..n)
 * named argv[1] between MPI_Init_thread (errors returned, not fatal) and MPI_Finalize; --help
 * lists the commands with their summaries; --version runs the command "version" when there is
 * one. Sets sn_cli_program = program. Returns the exit status. */
int sn_cli_main(const char *program, const sn_cli_command *cmds, int n, int argc, char **argv);

/* Exit statuses: 0 success, 1 runtime failure, 2 usage error. */
/* SN_EXIT_DEFECT: `score --fail-on-defect` judged an image a defect */
enum { SN_EXIT_OK = 0, SN_EXIT_FAIL = 1, SN_EXIT_USAGE = 2, SN_EXIT_DEFECT = 3 };

/* Print "sernet CMD: <message>" and the usage text to stderr; returns SN_EXIT_USAGE. */
int sn_cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Print the recorded error as "sernet CMD: error: ..." (rank 0 only when `rank0_only`). */
int sn_cli_fail(const char *cmd);

/* Configuration from --config/--set options collected by the caller, validated. */
typedef struct {
    const char *config_path;
    const char *sets[64];
    int n_sets;
} sn_cli_config_args;

/* Handles --config FILE and --set key=value; returns 1 if `opt` was one of them. */
int sn_cli_config_option(sn_cli_config_args *a, int opt, const char *optarg_value);
sn_status sn_cli_config_resolve(const sn_cli_config_args *a, sn_config *cfg);
/* Rank 0 prints the resolved configuration (stderr) at the start of a command that uses it. */
void sn_cli_config_announce(const char *cmd, const sn_config *cfg);

/* Declarative options: the parser handles --help, --config/--set (when `ca` is given), values,
 * numeric ranges and every usage error, so commands only list their options. */
typedef enum { SN_OPT_FLAG, SN_OPT_STR, SN_OPT_INT, SN_OPT_LONG, SN_OPT_DOUBLE } sn_opt_kind;
typedef struct {
    const char *name; /* long name without the dashes */
    sn_opt_kind kind;
    void *dest;       /* int * (FLAG: set to 1; INT), const char ** (STR), long long * (LONG), double * */
    double min, max;  /* accepted range of a numeric value */
} sn_cli_opt;
#define SN_OPT_END {NULL, SN_OPT_FLAG, NULL, 0, 0}

/* Returns 0 with *first_pos = index of the first positional argument, -1 after printing the
 * usage for --help (exit 0), or SN_EXIT_USAGE after a one-line error and the usage. */
int sn_cli_parse(const char *cmd, const char *usage, int argc, char **argv, const sn_cli_opt *opts,
                 sn_cli_config_args *ca, int *first_pos);
/* The exit status for a non-zero sn_cli_parse result. */
static inline int sn_cli_parse_exit(int rc) { return rc < 0 ? SN_EXIT_OK : rc; }

/* s as a JSON string literal with its quotes, escaped by cJSON (control characters, quote and
 * backslash; bytes >= 0x80 copied, so UTF-8 stays UTF-8), truncated to fit cap (>= 8) between
 * escape sequences. */
void sn_cli_json_string(const char *s, char *out, size_t cap);

/* MPI-aware printing: only rank 0 prints. */
int sn_cli_rank(void);

int sn_cmd_version(int argc, char **argv);
int sn_cmd_config(int argc, char **argv);
int sn_cmd_calibrate(int argc, char **argv);
int sn_cmd_bundle(int argc, char **argv);
int sn_cmd_phash(int argc, char **argv);
int sn_cmd_index(int argc, char **argv);
int sn_cmd_similar(int argc, char **argv);
int sn_cmd_ingest(int argc, char **argv);
int sn_cmd_synth(int argc, char **argv);
int sn_cmd_info(int argc, char **argv);
int sn_cmd_pseudo(int argc, char **argv);
int sn_cmd_train(int argc, char **argv);
int sn_cmd_eval(int argc, char **argv);
int sn_cmd_infer(int argc, char **argv);
int sn_cmd_export(int argc, char **argv);
int sn_cmd_score(int argc, char **argv);

#endif
