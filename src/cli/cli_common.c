#include "cli/cli.h"

#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>

int sn_cli_rank(void)
{
    int inited = 0, rank = 0;
    MPI_Initialized(&inited);
    if (inited)
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

int sn_cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
{
    va_list ap;
    if (sn_cli_rank() == 0) {
        fprintf(stderr, "sernet %s: ", cmd);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\n%s", usage);
    }
    return SN_EXIT_USAGE;
}

int sn_cli_fail(const char *cmd)
{
    if (sn_cli_rank() == 0)
        fprintf(stderr, "sernet %s: error: %s\n", cmd, sn_err_msg()[0] ? sn_err_msg() : "failed");
    return SN_EXIT_FAIL;
}

int sn_cli_config_option(sn_cli_config_args *a, int opt, const char *value)
{
    if (opt == 'c') {
        a->config_path = value;
        return 1;
    }
    if (opt == 's') {
        if (a->n_sets < (int)(sizeof a->sets / sizeof a->sets[0]))
            a->sets[a->n_sets++] = value;
        return 1;
    }
    return 0;
}

sn_status sn_cli_config_resolve(const sn_cli_config_args *a, sn_config *cfg)
{
    sn_status status = SN_OK;
    sn_config_defaults(cfg);
    if (a->config_path)
        SN_TRY(sn_config_load(cfg, a->config_path));
    for (int i = 0; i < a->n_sets; i++)
        SN_TRY(sn_config_set(cfg, a->sets[i], "--set"));
    SN_TRY(sn_config_validate(cfg));
done:
    return status;
}

void sn_cli_config_announce(const char *cmd, const sn_config *cfg)
{
    if (sn_cli_rank() != 0)
        return;
    char *ini = sn_config_to_ini(cfg);
    if (!ini)
        return;
    /* on stderr, so the command's own output stays machine-readable */
    fprintf(stderr, "sernet %s: resolved configuration:\n%s", cmd, ini);
    sn_free(ini);
}
