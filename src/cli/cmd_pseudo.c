/* sernet pseudo: PNG sheets (clean | mask | pseudo-anomalous) of the training samples PPA or DPA
 * produces, so a person can look at what the networks are trained on. */
#define _GNU_SOURCE
#include "cli/cli.h"
#include "sernet/dataset.h"
#include "sernet/dist.h"
#include "sernet/fsutil.h"
#include "sernet/image.h"
#include "sernet/pseudo.h"

#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GAP 4 /* grey separator between the three panels, pixels */

static uint8_t to_u8(float v)
{
    v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
    return (uint8_t)(v * 255.0f + 0.5f);
}

/* One sheet: clean image | mask (white = anomalous) | generated image. */
static sn_status write_sheet(const char *path, int s, const float *clean, const float *mask,
                             const float *pseudo)
{
    sn_status status = SN_OK;
    size_t plane = (size_t)s * s;
    sn_image sheet = {3 * s + 2 * GAP, s, 3, NULL};
    SN_ALLOC(sheet.data, (size_t)sheet.w * sheet.h * 3, "pseudo-anomaly sheet");
    memset(sheet.data, 128, (size_t)sheet.w * sheet.h * 3);
    for (int y = 0; y < s; y++)
        for (int x = 0; x < s; x++) {
            size_t i = (size_t)y * s + x;
            uint8_t *row = sheet.data + (size_t)y * sheet.w * 3;
            uint8_t m = mask[i] > 0.5f ? 255 : 0;
            for (int c = 0; c < 3; c++) {
                row[3 * x + c] = to_u8(clean[c * plane + i]);
                row[3 * (s + GAP + x) + c] = m;
                row[3 * (2 * (s + GAP) + x) + c] = to_u8(pseudo[c * plane + i]);
            }
        }
    SN_TRY(sn_image_write_png(path, &sheet));
done:
    sn_free(sheet.data);
    return status;
}

typedef struct {
    const char *data, *out_dir, *kind;
    int dpa, rank, size;
    long long count, epoch, start;
    uint64_t seed;
    sn_pseudo_params p;
    sn_dataset *ds;
    int64_t n_train;
    sn_pseudo_work *w;
    float *img, *out, *mask;
} pseudo_run;

static sn_status prepare(pseudo_run *r)
{
    sn_status status = SN_OK;
    r->p.size = sn_dataset_image_size(r->ds);
    r->n_train = sn_dataset_count(r->ds, SN_SPLIT_TRAIN);
    if (r->n_train < 1)
        SN_FAIL(SN_EINVAL, "%s: category '%s' has no training images", r->data,
                sn_dataset_category(r->ds));
    SN_TRY(sn_pseudo_params_check(&r->p));
    if (r->rank == 0)
        SN_TRY(sn_mkdirs(r->out_dir));
    size_t plane = (size_t)r->p.size * r->p.size;
    SN_ALLOC(r->img, 3 * plane, "clean image");
    SN_ALLOC(r->out, 3 * plane, "pseudo-anomalous image");
    SN_ALLOC(r->mask, plane, "pseudo-anomaly mask");
    SN_TRY(sn_pseudo_work_create(r->p.size, &r->w));
done:
    return status;
}

static sn_status generate(pseudo_run *r)
{
    sn_status status = SN_OK;
    size_t plane = (size_t)r->p.size * r->p.size;
    sn_image_source src;
    sn_pseudo_dataset_source(r->ds, &src);
    for (long long j = r->rank; j < r->count; j += r->size) {
        uint64_t k = (uint64_t)(r->start + j);
        int64_t idx = (int64_t)(k % (uint64_t)r->n_train);
        const char *name = sn_dataset_name(r->ds, SN_SPLIT_TRAIN, idx);
        SN_TRY(sn_dataset_read(r->ds, SN_SPLIT_TRAIN, &idx, 1, r->img, NULL, NULL));
        sn_pseudo_key key = {r->seed, r->dpa ? SN_RNG_STAGE_REC : SN_RNG_STAGE_SEG,
                             (uint32_t)r->epoch, k};
        sn_pseudo_info info;
        if (r->dpa)
            SN_TRY(sn_pseudo_dpa(&r->p, &key, r->img, r->w, r->out, r->mask, &info));
        else
            SN_TRY(sn_pseudo_ppa(&r->p, &key, r->img, &src, r->w, r->out, r->mask, &info));
        char path[4096];
        snprintf(path, sizeof path, "%s/%s_%06llu.png", r->out_dir, r->kind, (unsigned long long)k);
        SN_TRY(write_sheet(path, r->p.size, r->img, r->mask, r->out));
        if (!info.anomalous)
            printf("%s  image %lld (%s)  clean\n", path, (long long)idx, name);
        else if (r->dpa)
            printf("%s  image %lld (%s)  area %.4f S^2  seeds %d  rectangles %d  alpha %+.3f  "
                   "gamma %.3f %.3f %.3f\n", path, (long long)idx, name,
                   (double)info.area / (double)plane, info.n_seeds, info.n_rects, info.alpha,
                   info.gamma[0], info.gamma[1], info.gamma[2]);
        else
            printf("%s  image %lld (%s)  area %.4f S^2  lattice %dx%d  tries %d%s  beta %.3f  "
                   "sources %lld %lld %lld %lld\n", path, (long long)idx, name,
                   (double)info.area / (double)plane, info.res_y, info.res_x, info.tries,
                   info.fallback ? " (fallback)" : "", info.beta, (long long)info.src_index[0],
                   (long long)info.src_index[1], (long long)info.src_index[2],
                   (long long)info.src_index[3]);
    }
done:
    return status;
}

int sn_cmd_pseudo(int argc, char **argv)
{
    static const char usage[] =
        "usage: sernet pseudo --data FILE --kind ppa|dpa --count N --out DIR [--category NAME]\n"
        "                     [--epoch E] [--start K] [--config FILE] [--set key=value]...\n"
        "Generate pseudo-anomalies for the global sample indices K .. K+N-1 of epoch E (default\n"
        "0, 0) with the random keys training uses (seed, stage seg for ppa / rec for dpa, epoch,\n"
        "sample) and write DIR/<kind>_<sample>.png sheets: clean image | mask | pseudo-anomalous\n"
        "image. Sample k is applied to training image k mod (number of training images).\n"
        "Clean samples (probability 1 - p_anomaly) are written too, with a black mask.\n"
        "Use --set pseudo.p_anomaly=1 to see only anomalies. DIR is created if needed (with\n"
        "parents). Ranks share the samples; the sheets do not depend on the number of ranks.\n"
        "--category: the dataset category (default: the file's only category).\n";
    sn_cli_config_args ca = {0};
    const char *data = NULL, *kind_s = NULL, *out_dir = NULL, *category = NULL;
    long long count = -1, epoch = 0, start = 0;
    int pos = 0;
    const sn_cli_opt opts[] = {{"data", SN_OPT_STR, &data, 0, 0},
                               {"kind", SN_OPT_STR, &kind_s, 0, 0},
                               {"count", SN_OPT_LONG, &count, 1, 1000000},
                               {"out", SN_OPT_STR, &out_dir, 0, 0},
                               {"category", SN_OPT_STR, &category, 0, 0},
                               {"epoch", SN_OPT_LONG, &epoch, 0, (double)UINT32_MAX},
                               {"start", SN_OPT_LONG, &start, 0, (double)(SN_RNG_MAX_SAMPLE - 1000000)},
                               SN_OPT_END};
    int prc = sn_cli_parse("pseudo", usage, argc, argv, opts, &ca, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    if (pos < argc)
        return sn_cli_usage_error("pseudo", usage, "unexpected argument '%s'", argv[pos]);
    if (!data || !kind_s || count < 0 || !out_dir)
        return sn_cli_usage_error("pseudo", usage, "--data, --kind, --count and --out are required");
    int dpa;
    if (strcmp(kind_s, "ppa") == 0)
        dpa = 0;
    else if (strcmp(kind_s, "dpa") == 0)
        dpa = 1;
    else
        return sn_cli_usage_error("pseudo", usage, "--kind '%s': expected ppa or dpa", kind_s);

    sn_status status = SN_OK;
    sn_config cfg;
    pseudo_run run = {0};
    run.data = data;
    run.out_dir = out_dir;
    run.kind = kind_s;
    run.dpa = dpa;
    run.count = count;
    run.epoch = epoch;
    run.start = start;
    run.rank = sn_dist_rank(MPI_COMM_WORLD);
    run.size = sn_dist_size(MPI_COMM_WORLD);
    /* Each phase may fail on some ranks only; sn_dist_agree makes every rank take the same path
     * (and carry the failing rank's message) before the next collective step. */
    status = sn_dist_agree(sn_cli_config_resolve(&ca, &cfg), MPI_COMM_WORLD);
    if (status == SN_OK) {
        sn_cli_config_announce("pseudo", &cfg);
        run.seed = (uint64_t)cfg.seed;
        sn_pseudo_params_from_config(&run.p, &cfg);
        status = sn_dataset_open(data, category, MPI_COMM_WORLD, &run.ds); /* agrees itself */
    }
    if (status == SN_OK)
        status = sn_dist_agree(prepare(&run), MPI_COMM_WORLD);
    if (status == SN_OK)
        status = sn_dist_agree(generate(&run), MPI_COMM_WORLD);
    sn_pseudo_work_free(run.w);
    sn_free(run.img);
    sn_free(run.out);
    sn_free(run.mask);
    sn_dataset_close(run.ds);
    return status == SN_OK ? SN_EXIT_OK : sn_cli_fail("pseudo");
}
