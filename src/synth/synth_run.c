/* The synth stage (sernet/synth_run.h): the embedded synthetic inspection set as a dataset file,
 * or a PNG picture grid of examples (preview). */
#define _GNU_SOURCE
#include "sernet/synth_run.h"
#include "sernet/dataset.h"
#include "sernet/dist.h"
#include "sernet/image.h"
#include "sernet/synth.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static sn_status write_dataset(const char *out, int force, const sn_config *cfg, uint64_t seed, int copies,
                               MPI_Comm comm)
{
    sn_status status = SN_OK;
    int nc = sn_synth_n_categories();
    sn_dsw_category cats[8];
    char src[128];
    memset(cats, 0, sizeof cats);
    snprintf(src, sizeof src, "sernet synth seed=%llu size=%d%s%d", (unsigned long long)seed, cfg->image_size,
             copies > 1 ? " test_copies=" : "", copies > 1 ? copies : 0);
    for (int c = 0; c < nc; c++) {
        sn_dsw_category *k = &cats[c];
        k->name = sn_synth_category_name(c);
        k->source = src;
        k->n_train = sn_synth_count(c, 0);
        k->n_test = sn_synth_count(c, 1) * copies;
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
    SN_TRY(sn_dsw_write(out, force, comm, cfg, cfg->image_size, src, cats, nc, produce, &ctx));
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

sn_status sn_synth_run(const sn_synth_options *o, MPI_Comm comm, sn_synth_summary *summary)
{
    const sn_config *cfg = o->cfg;
    memset(summary, 0, sizeof *summary);
    if (!cfg || !o->out == !o->preview)
        return SN_ERR(SN_EINVAL, "synth: a configuration and exactly one of the output and preview "
                      "files are required");
    if (o->test_copies < 0 || o->test_copies > SN_SYNTH_MAX_TEST_COPIES)
        return SN_ERR(SN_EINVAL, "synth: %d test copies, expected 1..%d", o->test_copies, SN_SYNTH_MAX_TEST_COPIES);
    if (cfg->image_size < 32)
        return SN_ERR(SN_EINVAL, "image_size = %d: the synthetic set needs at least 32", cfg->image_size);
    double t0 = MPI_Wtime();
    sn_status st;
    if (o->preview) {
        st = SN_OK;
        if (sn_dist_rank(comm) == 0)
            st = write_preview(o->preview, o->force, cfg->image_size, (uint64_t)cfg->seed);
        st = sn_dist_agree(st, comm);
    } else {
        st = write_dataset(o->out, o->force, cfg, (uint64_t)cfg->seed, o->test_copies ? o->test_copies : 1, comm);
    }
    if (st != SN_OK)
        return st;
    summary->path = o->preview ? o->preview : o->out;
    summary->size = cfg->image_size;
    summary->seed = cfg->seed;
    summary->seconds = MPI_Wtime() - t0;
    summary->ranks = sn_dist_size(comm);
    return SN_OK;
}
