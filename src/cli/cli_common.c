#define _GNU_SOURCE
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>

int sn_cli_rank(void)
{
    int inited = 0, rank = 0;
    if (MPI_Initialized(&inited) != MPI_SUCCESS || !inited)
        return 0;
    if (MPI_Comm_rank(MPI_COMM_WORLD, &rank) != MPI_SUCCESS)
        return 0;
    return rank;
}

int sn_cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
{
    va_list ap;
    if (sn_cli_rank() == 0) {
        fprintf(stderr, "%s %s: ", sn_cli_program, cmd);
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
        fprintf(stderr, "%s %s: error: %s\n", sn_cli_program, cmd, sn_err_msg()[0] ? sn_err_msg() : "failed");
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
    fprintf(stderr, "%s %s: resolved configuration:\n%s", sn_cli_program, cmd, ini);
    sn_free(ini);
}

#define SN_CLI_MAX_OPTS 40

static int parse_value(const char *cmd, const char *usage, const sn_cli_opt *o, const char *v)
{
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case SN_OPT_FLAG: *(int *)o->dest = 1; return 0;
    case SN_OPT_STR: *(const char **)o->dest = v; return 0;
    case SN_OPT_INT:
    case SN_OPT_LONG: {
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end || (double)x < o->min || (double)x > o->max)
            return sn_cli_usage_error(cmd, usage, "--%s '%s': expected an integer in [%.0f, %.0f]", o->name, v,
                                      o->min, o->max);
        if (o->kind == SN_OPT_INT)
            *(int *)o->dest = (int)x;
        else
            *(long long *)o->dest = x;
        return 0;
    }
    case SN_OPT_DOUBLE: {
        double x = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(x) || x < o->min || x > o->max)
            return sn_cli_usage_error(cmd, usage, "--%s '%s': expected a number in [%g, %g]", o->name, v, o->min,
                                      o->max);
        *(double *)o->dest = x;
        return 0;
    }
    }
    return sn_cli_usage_error(cmd, usage, "--%s: unsupported option type", o->name);
}

int sn_cli_parse(const char *cmd, const char *usage, int argc, char **argv, const sn_cli_opt *opts,
                 sn_cli_config_args *ca, int *first_pos)
{
    struct option lo[SN_CLI_MAX_OPTS + 4];
    int n = 0;
    for (; opts && opts[n].name; n++) {
        SN_ASSERT(n < SN_CLI_MAX_OPTS);
        lo[n] = (struct option){opts[n].name, opts[n].kind == SN_OPT_FLAG ? no_argument : required_argument, 0,
                                1000 + n};
    }
    int k = n;
    lo[k++] = (struct option){"help", no_argument, 0, 'h'};
    if (ca) {
        lo[k++] = (struct option){"config", required_argument, 0, 'c'};
        lo[k++] = (struct option){"set", required_argument, 0, 's'};
    }
    lo[k] = (struct option){0, 0, 0, 0};
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
        if (opt >= 1000 && opt < 1000 + n) {
            int rc = parse_value(cmd, usage, &opts[opt - 1000], optarg);
            if (rc)
                return rc;
        } else if (ca && sn_cli_config_option(ca, opt, optarg)) {
            continue;
        } else if (opt == 'h') {
            if (sn_cli_rank() == 0)
                fputs(usage, stdout);
            return -1;
        } else if (opt == ':') {
            return sn_cli_usage_error(cmd, usage, "option '%s' needs a value", argv[optind - 1]);
        } else {
            return sn_cli_usage_error(cmd, usage, "unknown option '%s'", argv[optind - 1]);
        }
    }
    *first_pos = optind;
    return 0;
}

void sn_cli_json_string(const char *s, char *out, size_t cap)
{
    SN_ASSERT(s && out && cap >= 8);
    cJSON *item = cJSON_CreateString(s);
    char *text = item ? cJSON_PrintUnformatted(item) : NULL; /* quoted and escaped by cJSON */
    cJSON_Delete(item);
    if (!text) {
        snprintf(out, cap, "\"\""); /* out of memory: an empty string, still valid JSON */
        return;
    }
    size_t n = strlen(text);
    if (n < cap) {
        memcpy(out, text, n + 1);
    } else {
        /* too long: the escaped text up to the last whole escape sequence that fits, closed */
        size_t o = 1, i = 1;
        out[0] = '"';
        while (i < n - 1) {
            size_t tok = text[i] != '\\' ? 1 : text[i + 1] == 'u' ? 6 : 2;
            if (o + tok + 2 > cap)
                break;
            memcpy(out + o, text + i, tok);
            o += tok;
            i += tok;
        }
        out[o++] = '"';
        out[o] = '\0';
    }
    cJSON_free(text);
}
