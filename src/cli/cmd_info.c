/* sernet version, sernet config */
#define _GNU_SOURCE
#include "cli/cli.h"
#include "sernet/gemm.h"
#include "sernet/version.h"

#include <stdio.h>
#include <string.h>

int sn_cmd_version(int argc, char **argv)
{
    static const char usage[] = "usage: sernet version\n"
                                "Print the program version, GEMM backend, MPI and HDF5 versions.\n";
    int pos = 0;
    const sn_cli_opt none[] = {SN_OPT_END};
    int rc = sn_cli_parse("version", usage, argc, argv, none, NULL, &pos);
    if (rc)
        return sn_cli_parse_exit(rc);
    if (pos < argc)
        return sn_cli_usage_error("version", usage, "unexpected argument '%s'", argv[pos]);
    if (sn_cli_rank() == 0) {
        char buf[2048];
        sn_version_describe(buf, sizeof buf);
        fputs(buf, stdout);
    }
    return SN_EXIT_OK;
}

static void print_reference(int markdown)
{
    int n = 0;
    const sn_config_key *keys = sn_config_keys(&n);
    const char *section = "";
    for (int i = 0; i < n; i++) {
        const sn_config_key *k = &keys[i];
        const char *type = k->type == SN_CFG_INT || k->type == SN_CFG_LONG ? "integer"
                           : k->type == SN_CFG_FLOAT ? "number"
                           : k->type == SN_CFG_FLOAT_AUTO ? "number or auto"
                                                         : k->choices;
        char range[96] = "";
        if (k->type != SN_CFG_ENUM)
            snprintf(range, sizeof range, "[%g, %g]", k->min, k->max);
        if (markdown) {
            if (strcmp(section, k->section) != 0) {
                section = k->section;
                printf("\n### [%s]\n\n| key | type | range | default | meaning |\n|---|---|---|---|---|\n",
                       section);
            }
            printf("| `%s` | %s | %s | `%s` | %s |\n", k->name, type, range, k->def, k->help);
        } else {
            printf("%s.%s (%s%s%s, default %s)\n    %s\n", k->section, k->name, type,
                   range[0] ? " " : "", range, k->def, k->help);
        }
    }
}

int sn_cmd_config(int argc, char **argv)
{
    static const char usage[] =
        "usage: sernet config [--config FILE] [--set key=value]... [--keys] [--markdown]\n"
        "Print the resolved configuration as INI (defaults, then FILE, then --set),\n"
        "or with --keys the reference of every key (--markdown: as a Markdown table).\n";
    sn_cli_config_args ca = {0};
    int keys = 0, markdown = 0, pos = 0;
    const sn_cli_opt opts[] = {{"keys", SN_OPT_FLAG, &keys, 0, 0}, {"markdown", SN_OPT_FLAG, &markdown, 0, 0},
                               SN_OPT_END};
    int rc = sn_cli_parse("config", usage, argc, argv, opts, &ca, &pos);
    if (rc)
        return sn_cli_parse_exit(rc);
    if (pos < argc)
        return sn_cli_usage_error("config", usage, "unexpected argument '%s'", argv[pos]);
    keys |= markdown;
    if (keys) {
        if (sn_cli_rank() == 0)
            print_reference(markdown);
        return SN_EXIT_OK;
    }
    sn_config cfg;
    if (sn_cli_config_resolve(&ca, &cfg) != SN_OK)
        return sn_cli_fail("config");
    char *ini = sn_config_to_ini(&cfg);
    if (!ini)
        return sn_cli_fail("config");
    if (sn_cli_rank() == 0)
        fputs(ini, stdout);
    sn_free(ini);
    return SN_EXIT_OK;
}
