/* sernet synth: the embedded synthetic inspection set as a dataset file, or a PNG picture grid of
 * examples (--preview). */
#define _GNU_SOURCE
#include "cli/cli.h"
#include "sernet/dataset.h"
#include "sernet/dist.h"
#include "sernet/image.h"
#include "sernet/synth.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sernet synth --out FILE.h5 [--size S] [--seed K] [--force]\n"
    "       sernet synth --preview FILE.png [--size S] [--seed K] [--force]\n"
    "                    [--config FILE] [--set key=value]...\n"
    "Write the embedded synthetic inspection set (categories 'weave', a woven texture, and\n"
    "'flange', a metal part with pose and lighting variation): 120 normal training images per\n"
    "category and a test split of normal and defective images with exact pixel masks.\n"
    "--preview writes a PNG grid instead: per category one row of images (2 train, 1 normal\n"
    "test, one of each defect type) and one row of their masks.\n"
    "  --size S   image side, a multiple of 16 (default: the image_size key, 256)\n"
    "  --seed K   generator seed (default: the seed key); same seed, same bytes\n"
    "  --force    replace an existing output file\n";

typedef struct {
    int size;
    uint64_t seed;
} synth_ctx;

static sn_status produce(void *ctx, int cat, int split, int64_t i, uint8_t *image, uint8_t *mask,
                         int32_t orig[2])
{
    const synth_ctx *c = ctx;
    orig[0] = orig[1] = c->size;
    return sn_synth_render(cat, split, i, c->size, c->seed, image, mask);
}

static sn_status write_dataset(const char *out, int force, const sn_config *cfg, uint64_t seed)
{
    sn_status status = SN_OK;
    int nc = sn_synth_n_categories();
    sn_dsw_category cats[8];
    char src[128];
    memset(cats, 0, sizeof cats);
    snprintf(src, sizeof src, "sernet synth seed=%llu size=%d", (unsigned long long)seed, cfg->image_size);
    for (int c = 0; c < nc; c++) {
        sn_dsw_category *k = &cats[c];
        k->name = sn_synth_category_name(c);
        k->source = src;
        k->n_train = sn_synth_count(c, 0);
        k->n_test = sn_synth_count(c, 1);
        k->train_names = calloc((size_t)k->n_train, sizeof(char *));
        k->test_names = calloc((size_t)k->n_test, sizeof(char *));
        k->test_labels = calloc((size_t)k->n_test, 1);
        k->test_defect = calloc((size_t)k->n_test, sizeof(int32_t));
        k->test_has_mask = calloc((size_t)k->n_test, 1);
        k->n_defect_types = sn_synth_n_defect_types(c);
        k->defect_types = calloc((size_t)k->n_defect_types, sizeof(char *));
        if (!k->train_names || !k->test_names || !k->test_labels || !k->test_defect ||
            !k->test_has_mask || !k->defect_types)
            SN_FAIL(SN_ENOMEM, "synth: item tables");
        for (int t = 0; t < k->n_defect_types; t++)
            k->defect_types[t] = (char *)sn_synth_defect_type(c, t);
        for (int64_t i = 0; i < k->n_train; i++)
            if (asprintf(&k->train_names[i], "train/good/%03lld", (long long)i) < 0)
                SN_FAIL(SN_ENOMEM, "synth: names");
        for (int64_t i = 0; i < k->n_test; i++) {
            int t = sn_synth_test_defect(c, i);
            k->test_defect[i] = t;
            k->test_labels[i] = t != 0;
            k->test_has_mask[i] = 1; /* normal items have an all-zero mask */
            if (asprintf(&k->test_names[i], "test/%s/%03lld", sn_synth_defect_type(c, t), (long long)i) < 0)
                SN_FAIL(SN_ENOMEM, "synth: names");
        }
    }
    synth_ctx ctx = {cfg->image_size, seed};
    SN_TRY(sn_dsw_write(out, force, MPI_COMM_WORLD, cfg, cfg->image_size, src, cats, nc, produce, &ctx));
done:
    for (int c = 0; c < nc; c++) {
        for (int64_t i = 0; cats[c].train_names && i < cats[c].n_train; i++)
            free(cats[c].train_names[i]);
        for (int64_t i = 0; cats[c].test_names && i < cats[c].n_test; i++)
            free(cats[c].test_names[i]);
        free(cats[c].train_names);
        free(cats[c].test_names);
        free(cats[c].test_labels);
        free(cats[c].test_defect);
        free(cats[c].test_has_mask);
        free(cats[c].defect_types);
    }
    return status;
}

static void blit(sn_image *g, int x0, int y0, const uint8_t *rgb, const uint8_t *mask, int S)
{
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            uint8_t *p = g->data + 3 * ((size_t)(y0 + y) * g->w + x0 + x);
            for (int k = 0; k < 3; k++)
                p[k] = rgb ? rgb[3 * ((size_t)y * S + x) + k] : (mask[(size_t)y * S + x] ? 255 : 0);
        }
}

static sn_status write_preview(const char *out, int force, int S, uint64_t seed)
{
    sn_status status = SN_OK;
    int nc = sn_synth_n_categories(), cols = 0, gap = 4;
    sn_image g = {0};
    uint8_t *rgb = NULL, *mask = NULL;
    for (int c = 0; c < nc; c++)
        cols = SN_MAX(cols, 2 + sn_synth_n_defect_types(c));
    FILE *exists = fopen(out, "rb");
    if (exists) {
        fclose(exists);
        if (!force)
            SN_FAIL(SN_EINVAL, "%s: output file exists (use --force to replace it)", out);
    }
    g.w = cols * S + (cols + 1) * gap;
    g.h = 2 * nc * S + (2 * nc + 1) * gap;
    g.c = 3;
    SN_ALLOC(g.data, (size_t)g.w * g.h * 3, "preview grid");
    memset(g.data, 48, (size_t)g.w * g.h * 3);
    SN_ALLOC(rgb, (size_t)S * S * 3, "preview image");
    SN_ALLOC(mask, (size_t)S * S, "preview mask");
    for (int c = 0; c < nc; c++) {
        int col = 0, y_img = gap + 2 * c * (S + gap), y_msk = y_img + S + gap;
        for (int j = 0; j < 2; j++, col++) {
            SN_TRY(sn_synth_render(c, 0, j, S, seed, rgb, mask));
            memset(mask, 0, (size_t)S * S);
            blit(&g, gap + col * (S + gap), y_img, rgb, NULL, S);
            blit(&g, gap + col * (S + gap), y_msk, NULL, mask, S);
        }
        for (int t = 0; t < sn_synth_n_defect_types(c); t++, col++) {
            int64_t i = 0;
            while (sn_synth_test_defect(c, i) != t)
                i++;
            SN_TRY(sn_synth_render(c, 1, i, S, seed, rgb, mask));
            blit(&g, gap + col * (S + gap), y_img, rgb, NULL, S);
            blit(&g, gap + col * (S + gap), y_msk, NULL, mask, S);
        }
    }
    SN_TRY(sn_image_write_png(out, &g));
done:
    sn_image_free(&g);
    sn_free(rgb);
    sn_free(mask);
    return status;
}

int sn_cmd_synth(int argc, char **argv)
{
    sn_cli_config_args ca = {0};
    const char *out = NULL, *preview = NULL, *size_arg = NULL, *seed_arg = NULL;
    int force = 0, pos = 0;
    const sn_cli_opt opts[] = {{"out", SN_OPT_STR, &out, 0, 0},       {"preview", SN_OPT_STR, &preview, 0, 0},
                               {"size", SN_OPT_STR, &size_arg, 0, 0}, {"seed", SN_OPT_STR, &seed_arg, 0, 0},
                               {"force", SN_OPT_FLAG, &force, 0, 0},  SN_OPT_END};
    int rc = sn_cli_parse("synth", usage, argc, argv, opts, &ca, &pos);
    if (rc)
        return sn_cli_parse_exit(rc);
    if (pos < argc)
        return sn_cli_usage_error("synth", usage, "unexpected argument '%s'", argv[pos]);
    if (!out == !preview)
        return sn_cli_usage_error("synth", usage, "give exactly one of --out and --preview");
    char size_set[64], seed_set[64];
    if (size_arg) {
        char *end;
        long s = strtol(size_arg, &end, 10);
        if (*end || s <= 0 || s > 4096)
            return sn_cli_usage_error("synth", usage, "--size '%s': expected an integer in [32, 4096]", size_arg);
        snprintf(size_set, sizeof size_set, "image_size=%ld", s);
        if (ca.n_sets < (int)(sizeof ca.sets / sizeof ca.sets[0]))
            ca.sets[ca.n_sets++] = size_set;
    }
    if (seed_arg) {
        snprintf(seed_set, sizeof seed_set, "seed=%s", seed_arg);
        if (ca.n_sets < (int)(sizeof ca.sets / sizeof ca.sets[0]))
            ca.sets[ca.n_sets++] = seed_set;
    }
    sn_config cfg;
    if (sn_cli_config_resolve(&ca, &cfg) != SN_OK)
        return sn_cli_fail("synth");
    sn_cli_config_announce("synth", &cfg);
    if (cfg.image_size < 32) {
        SN_ERR(SN_EINVAL, "image_size = %d: the synthetic set needs at least 32", cfg.image_size);
        return sn_cli_fail("synth");
    }
    double t0 = MPI_Wtime();
    sn_status st;
    if (preview) {
        st = SN_OK;
        if (sn_cli_rank() == 0)
            st = write_preview(preview, force, cfg.image_size, (uint64_t)cfg.seed);
        st = sn_dist_agree(st, MPI_COMM_WORLD);
    } else {
        st = write_dataset(out, force, &cfg, (uint64_t)cfg.seed);
    }
    if (st != SN_OK)
        return sn_cli_fail("synth");
    if (sn_cli_rank() == 0)
        printf("synth: wrote %s (size %d, seed %ld) in %.2f s on %d rank(s)\n", preview ? preview : out,
               cfg.image_size, cfg.seed, MPI_Wtime() - t0, sn_dist_size(MPI_COMM_WORLD));
    return SN_EXIT_OK;
}
