/* The subcommand dispatcher shared by `sernet` (src/cli/main.c) and `sernet-bench`
 * (src/bench/main.c). */
#include "cli/cli.h"
#include "sernet/h5util.h"

#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *sn_cli_program = "sernet";

static void usage(FILE *f, const char *program, const sn_cli_command *cmds, int n)
{
    fprintf(f, "usage: %s <command> [options]   (%s <command> --help for details)\n\n"
               "commands:\n", program, program);
    for (int i = 0; i < n; i++)
        fprintf(f, "  %-13s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(f, "\nglobal options: --help%s\n", strcmp(program, "sernet") == 0 ? ", --version" : "");
}

int sn_cli_main(const char *program, const sn_cli_command *cmds, int n, int argc, char **argv)
{
    sn_cli_program = program;
    if (argc < 2) {
        fprintf(stderr, "%s: missing command\n", program);
        usage(stderr, program, cmds, n);
        return SN_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout, program, cmds, n);
        return SN_EXIT_OK;
    }
    const char *name = strcmp(argv[1], "--version") == 0 ? "version" : argv[1];
    for (int i = 0; i < n; i++) {
        if (strcmp(cmds[i].name, name) != 0)
            continue;
        int provided = 0;
        if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            fprintf(stderr, "%s: MPI_Init_thread failed\n", program);
            return SN_EXIT_FAIL;
        }
        /* Errors are returned, not fatal, so every failure takes the collective error path. */
        if (MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN) != MPI_SUCCESS) {
            fprintf(stderr, "%s: MPI_Comm_set_errhandler failed\n", program);
            MPI_Abort(MPI_COMM_WORLD, SN_EXIT_FAIL);
            return SN_EXIT_FAIL;
        }
        int rc = cmds[i].run(argc - 1, argv + 1);
        if (sn_h5_poisoned()) {
            /* HDF5 holds a file it could not close; its clean-up in MPI_Finalize would crash */
            fflush(stdout);
            fflush(stderr);
            _exit(rc ? rc : SN_EXIT_FAIL);
        }
        if (MPI_Finalize() != MPI_SUCCESS) {
            fprintf(stderr, "%s %s: MPI_Finalize failed\n", program, name);
            return rc ? rc : SN_EXIT_FAIL;
        }
        return rc;
    }
    fprintf(stderr, "%s: unknown command '%s'\n", program, argv[1]);
    usage(stderr, program, cmds, n);
    return SN_EXIT_USAGE;
}
