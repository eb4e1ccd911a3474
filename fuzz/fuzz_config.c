/* Fuzz target: configuration files and --set values. The input is loaded as an INI file
 * (sn_config_load), and every line of it is also applied as a `--set` assignment
 * (sn_config_set). Whatever was accepted must validate or be refused with a message, and the
 * resolved configuration must survive a round trip through sn_config_to_ini and a reload. */
#include "fuzz_common.h"

#include "sernet/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init(argc, argv);
    return 0;
}

/* Every key of a equals the same key of b, compared as formatted text. */
static int same_config(const sn_config *a, const sn_config *b)
{
    int n = 0;
    const sn_config_key *keys = sn_config_keys(&n);
    for (int i = 0; i < n; i++) {
        char va[128], vb[128];
        sn_config_format(a, &keys[i], va, sizeof va);
        sn_config_format(b, &keys[i], vb, sizeof vb);
        if (strcmp(va, vb) != 0) {
            fprintf(stderr, "round trip changed %s: %s -> %s\n", keys[i].name, va, vb);
            return 0;
        }
    }
    return 1;
}

/* Write the resolved configuration as INI, reload it on top of the defaults: same values. */
static void round_trip(const sn_config *cfg)
{
    char path[600];
    char *ini = sn_config_to_ini(cfg);
    FZ_CHECK(ini != NULL);
    fz_path(path, sizeof path, "roundtrip.ini");
    fz_write_file(path, (const uint8_t *)ini, strlen(ini));
    sn_free(ini);
    sn_config back;
    sn_config_defaults(&back);
    FZ_CHECK(sn_config_load(&back, path) == SN_OK);
    unlink(path);
    FZ_CHECK(same_config(cfg, &back));
}

static void check_validate(const sn_config *cfg)
{
    sn_status st = sn_config_validate(cfg);
    if (st != SN_OK)
        fz_refused(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[600];
    sn_config cfg;
    sn_err_clear();

    /* 1. the input as a configuration file */
    sn_config_defaults(&cfg);
    fz_path(path, sizeof path, "input.ini");
    fz_write_file(path, data, size);
    sn_status st = sn_config_load(&cfg, path);
    unlink(path);
    if (st == SN_OK) {
        check_validate(&cfg);
        round_trip(&cfg);
    } else {
        fz_refused(st);
    }

    /* 2. every line as a --set value, applied one after another */
    char *text = malloc(size + 1);
    FZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    sn_config_defaults(&cfg);
    char *save = NULL;
    int applied = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        st = sn_config_set(&cfg, line, "--set");
        if (st == SN_OK)
            applied++;
        else
            fz_refused(st);
    }
    free(text);
    if (applied) {
        check_validate(&cfg);
        round_trip(&cfg);
    }
    return 0;
}
