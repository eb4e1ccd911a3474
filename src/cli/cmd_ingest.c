/* sernet ingest: a folder in MVTec AD layout -> a dataset file (format in docs/formats.md).
 * Every rank lists the folders (the same lists everywhere), decodes its shard of the images and
 * the ranks write collectively. */
#define _GNU_SOURCE
#include "cli/cli.h"
#include "io/dataset_write.h"
#include "sernet/dist.h"
#include "sernet/image.h"
#include "sernet/preprocess.h"
#include "sernet/resize.h"

#include <dirent.h>
#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const char usage[] =
    "usage: sernet ingest --root DIR --category NAME --out FILE.h5 [--size S] [--force]\n"
    "                     [--skip-bad] [--config FILE] [--set key=value]...\n"
    "Turn DIR/NAME in MVTec AD layout (train/good/*, optional test/<type>/*, optional\n"
    "ground_truth/<type>/<name>_mask.png) into a dataset file. Images (PNG, JPEG or BMP by\n"
    "signature; files ending .png .jpg .jpeg .bmp) are resized to SxS with an antialiased\n"
    "triangle filter; masks are resized the same way and thresholded at 0.5.\n"
    "  --size S     output side, a multiple of 16 (default: the image_size key, 256)\n"
    "  --force      replace an existing output file\n"
    "  --skip-bad   skip undecodable images (and defect images whose mask is bad) with a\n"
    "               warning and a count, instead of failing\n"
    "Run under mpiexec to decode on several ranks; the data written does not depend on the\n"
    "number of ranks.\n";

typedef struct {
    char **v;
    int64_t n, cap;
} strlist;

static int push(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, sizeof(char *) * cap);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n] = strdup(s);
    return l->v[l->n++] ? 0 : -1;
}

static void strlist_free(strlist *l)
{
    for (int64_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") ||
                   !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".bmp"));
}

/* Sorted entries of dir: subdirectories (dirs = 1) or image files (dirs = 0). */
static sn_status list_dir(const char *dir, int dirs, strlist *out)
{
    sn_status status = SN_OK;
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        SN_FAIL(SN_EIO, "%s: cannot open folder: %s", dir, strerror(errno));
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0)
            continue;
        int want = dirs ? S_ISDIR(st.st_mode) : (S_ISREG(st.st_mode) && image_ext(e->d_name));
        if (want && push(out, e->d_name) != 0)
            SN_FAIL(SN_ENOMEM, "%s: listing", dir);
    }
    if (out->n > 1)
        qsort(out->v, (size_t)out->n, sizeof(char *), cmp_str);
done:
    if (d)
        closedir(d);
    return status;
}

typedef struct {
    char dir[4096];        /* root/category */
    int size;
    strlist train, test;   /* paths relative to dir */
    strlist test_masks;    /* relative mask path or "" */
    strlist types;         /* "good" first, then the defect folders */
    uint8_t *labels, *has_mask;
    int32_t *defect;
} ingest_plan;

static void plan_free(ingest_plan *p)
{
    strlist_free(&p->train);
    strlist_free(&p->test);
    strlist_free(&p->test_masks);
    strlist_free(&p->types);
    free(p->labels);
    free(p->has_mask);
    free(p->defect);
}

static sn_status plan_build(ingest_plan *p)
{
    sn_status status = SN_OK;
    char path[8600], rel[4200];
    strlist files = {0}, folders = {0};
    if (!is_dir(p->dir))
        SN_FAIL(SN_EIO, "%s: category folder not found", p->dir);
    snprintf(path, sizeof path, "%s/train/good", p->dir);
    if (!is_dir(path))
        SN_FAIL(SN_EIO, "%s: training folder not found (expected train/good/ with images)", path);
    SN_TRY(list_dir(path, 0, &files));
    if (files.n == 0)
        SN_FAIL(SN_EINVAL, "%s: no training images (.png, .jpg, .jpeg, .bmp): the training split is empty", path);
    for (int64_t i = 0; i < files.n; i++) {
        snprintf(rel, sizeof rel, "train/good/%s", files.v[i]);
        if (push(&p->train, rel))
            SN_FAIL(SN_ENOMEM, "listing");
    }
    strlist_free(&files);
    if (push(&p->types, "good"))
        SN_FAIL(SN_ENOMEM, "listing");
    snprintf(path, sizeof path, "%s/test", p->dir);
    if (!is_dir(path))
        goto done; /* a category with normal training images only */
    SN_TRY(list_dir(path, 1, &folders));
    if (folders.n == 0)
        SN_FAIL(SN_EINVAL, "%s: test folder has no subfolders (expected test/good, test/<defect>)", path);
    snprintf(path, sizeof path, "%s/ground_truth", p->dir);
    int have_gt = is_dir(path);
    for (int64_t t = 0; t < folders.n; t++)
        if (strcmp(folders.v[t], "good") != 0 && push(&p->types, folders.v[t]))
            SN_FAIL(SN_ENOMEM, "listing");
    /* test items: good first, then defect types in sorted order */
    for (int64_t t = 0; t < p->types.n; t++) {
        const char *type = p->types.v[t];
        snprintf(path, sizeof path, "%s/test/%s", p->dir, type);
        if (!is_dir(path))
            continue; /* no test/good */
        SN_TRY(list_dir(path, 0, &files));
        if (files.n == 0)
            SN_FAIL(SN_EINVAL, "%s: empty test folder (no .png, .jpg, .jpeg or .bmp images)", path);
        for (int64_t i = 0; i < files.n; i++) {
            snprintf(rel, sizeof rel, "test/%s/%s", type, files.v[i]);
            if (push(&p->test, rel))
                SN_FAIL(SN_ENOMEM, "listing");
            rel[0] = '\0';
            if (t > 0 && have_gt) {
                char stem[1024];
                snprintf(stem, sizeof stem, "%s", files.v[i]);
                char *dot = strrchr(stem, '.');
                if (dot)
                    *dot = '\0';
                snprintf(rel, sizeof rel, "ground_truth/%s/%s_mask.png", type, stem);
                snprintf(path, sizeof path, "%s/%s", p->dir, rel);
                struct stat st;
                if (stat(path, &st) != 0)
                    SN_FAIL(SN_EIO, "%s/test/%s/%s: defect image without a mask (expected %s; "
                            "other defect images of this category have masks)",
                            p->dir, type, files.v[i], path);
            }
            if (push(&p->test_masks, rel))
                SN_FAIL(SN_ENOMEM, "listing");
        }
        strlist_free(&files);
    }
    int64_t m = p->test.n;
    p->labels = calloc((size_t)(m ? m : 1), 1);
    p->has_mask = calloc((size_t)(m ? m : 1), 1);
    p->defect = calloc((size_t)(m ? m : 1), sizeof(int32_t));
    if (!p->labels || !p->has_mask || !p->defect)
        SN_FAIL(SN_ENOMEM, "listing");
    for (int64_t i = 0; i < m; i++) {
        const char *type = p->test.v[i] + 5; /* after "test/" */
        for (int64_t t = 0; t < p->types.n; t++) {
            size_t l = strlen(p->types.v[t]);
            if (strncmp(type, p->types.v[t], l) == 0 && type[l] == '/')
                p->defect[i] = (int32_t)t;
        }
        p->labels[i] = p->defect[i] != 0;
        p->has_mask[i] = p->test_masks.v[i][0] != '\0';
    }
done:
    strlist_free(&files);
    strlist_free(&folders);
    return status;
}

/* Decode, make 3 channels, resize (sn_preprocess_rgb8); the mask (if any) must match the image's original size. */
static sn_status ingest_item(const ingest_plan *p, const char *rel, const char *mask_rel,
                             uint8_t *image, uint8_t *mask, int32_t orig[2])
{
    sn_status status = SN_OK;
    sn_image img = {0}, mimg = {0};
    float *mf = NULL, *mo = NULL;
    char path[8400];
    const int S = p->size;
    snprintf(path, sizeof path, "%s/%s", p->dir, rel);
    SN_TRY(sn_image_read(path, &img));
    orig[0] = img.h;
    orig[1] = img.w;
    /* the same preprocessing as the inspection API's (sernet/preprocess.h) */
    SN_TRY(sn_preprocess_rgb8(img.data, img.w, img.h, (sn_pixel_format)img.c, 0, S, image));
    if (mask) {
        memset(mask, 0, (size_t)S * S);
        if (mask_rel && mask_rel[0]) {
            snprintf(path, sizeof path, "%s/%s", p->dir, mask_rel);
            SN_TRY(sn_image_read(path, &mimg));
            if (mimg.w != img.w || mimg.h != img.h)
                SN_FAIL(SN_EFORMAT, "%s: mask is %dx%d but its image %s/%s is %dx%d", path, mimg.w,
                        mimg.h, p->dir, rel, img.w, img.h);
            size_t n = (size_t)mimg.w * mimg.h;
            SN_ALLOC(mf, n, "mask");
            SN_ALLOC(mo, (size_t)S * S, "mask");
            for (size_t i = 0; i < n; i++) {
                int any = 0;
                for (int c = 0; c < mimg.c; c++)
                    any |= mimg.data[i * mimg.c + c] != 0;
                mf[i] = any ? 1.0f : 0.0f;
            }
            SN_TRY(sn_resize_f32(mf, mimg.w, mimg.h, 1, mo, S, S));
            for (size_t i = 0; i < (size_t)S * S; i++)
                mask[i] = mo[i] >= 0.5f;
        }
    }
done:
    sn_image_free(&img);
    sn_image_free(&mimg);
    sn_free(mf);
    sn_free(mo);
    return status;
}

static sn_status produce(void *ctx, int cat, int split, int64_t i, uint8_t *image, uint8_t *mask,
                         int32_t orig[2])
{
    const ingest_plan *p = ctx;
    (void)cat;
    if (split == 0)
        return ingest_item(p, p->train.v[i], NULL, image, NULL, orig);
    return ingest_item(p, p->test.v[i], p->test_masks.v[i], image, mask, orig);
}

/* --skip-bad: every rank checks its shard, the flags are combined, bad items are dropped. */
static sn_status drop_bad(ingest_plan *p, MPI_Comm comm, int64_t *dropped)
{
    sn_status status = SN_OK;
    int rank = sn_dist_rank(comm), size = sn_dist_size(comm);
    int64_t nt = p->train.n, n = nt + p->test.n, begin, count;
    uint8_t *bad = NULL, *all = NULL, *img = NULL, *msk = NULL;
    SN_CALLOC(bad, n, "flags");
    SN_CALLOC(all, n, "flags");
    SN_ALLOC(img, (size_t)p->size * p->size * 3, "image");
    SN_ALLOC(msk, (size_t)p->size * p->size, "mask");
    sn_dist_shard(n, rank, size, &begin, &count);
    for (int64_t i = begin; i < begin + count; i++) {
        int32_t orig[2];
        sn_status st = i < nt ? ingest_item(p, p->train.v[i], NULL, img, NULL, orig)
                              : ingest_item(p, p->test.v[i - nt], p->test_masks.v[i - nt], img, msk, orig);
        if (st == SN_ENOMEM)
            SN_FAIL(st, "%s", sn_err_msg());
        if (st != SN_OK) {
            fprintf(stderr, "sernet ingest: warning: skipping: %s\n", sn_err_msg());
            sn_err_clear();
            bad[i] = 1;
        }
    }
done:
    status = sn_dist_agree(status, comm);
    if (status == SN_OK && MPI_Allreduce(bad, all, (int)n, MPI_UINT8_T, MPI_MAX, comm) != MPI_SUCCESS)
        status = SN_ERR(SN_EMPI, "MPI_Allreduce of the bad-file flags failed");
    if (status == SN_OK) {
        int64_t w = 0, d = 0;
        for (int64_t i = 0; i < nt; i++) {
            if (all[i]) {
                free(p->train.v[i]);
                d++;
            } else {
                p->train.v[w++] = p->train.v[i];
            }
        }
        p->train.n = w;
        w = 0;
        for (int64_t i = 0; i < p->test.n; i++) {
            if (all[nt + i]) {
                free(p->test.v[i]);
                free(p->test_masks.v[i]);
                d++;
            } else {
                p->test.v[w] = p->test.v[i];
                p->test_masks.v[w] = p->test_masks.v[i];
                p->labels[w] = p->labels[i];
                p->has_mask[w] = p->has_mask[i];
                p->defect[w] = p->defect[i];
                w++;
            }
        }
        p->test.n = p->test_masks.n = w;
        *dropped = d;
        if (p->train.n == 0)
            status = SN_ERR(SN_EINVAL, "%s: every training image was bad: the training split is empty", p->dir);
    }
    sn_free(bad);
    sn_free(all);
    sn_free(img);
    sn_free(msk);
    return status;
}

int sn_cmd_ingest(int argc, char **argv)
{
    sn_cli_config_args ca = {0};
    const char *root = NULL, *category = NULL, *out = NULL, *size_arg = NULL;
    int force = 0, skip_bad = 0, pos = 0;
    const sn_cli_opt opts[] = {{"root", SN_OPT_STR, &root, 0, 0},         {"category", SN_OPT_STR, &category, 0, 0},
                               {"out", SN_OPT_STR, &out, 0, 0},           {"size", SN_OPT_STR, &size_arg, 0, 0},
                               {"force", SN_OPT_FLAG, &force, 0, 0},      {"skip-bad", SN_OPT_FLAG, &skip_bad, 0, 0},
                               SN_OPT_END};
    int rc = sn_cli_parse("ingest", usage, argc, argv, opts, &ca, &pos);
    if (rc)
        return sn_cli_parse_exit(rc);
    if (pos < argc)
        return sn_cli_usage_error("ingest", usage, "unexpected argument '%s'", argv[pos]);
    if (!root || !category || !out)
        return sn_cli_usage_error("ingest", usage, "--root, --category and --out are required");
    if (strchr(category, '/') || strchr(category, ',') || !category[0])
        return sn_cli_usage_error("ingest", usage, "--category '%s': a folder name without '/' or ','", category);
    char size_set[64];
    if (size_arg) {
        char *end;
        long s = strtol(size_arg, &end, 10);
        if (*end || s <= 0 || s > 4096)
            return sn_cli_usage_error("ingest", usage, "--size '%s': expected an integer in [16, 4096]", size_arg);
        snprintf(size_set, sizeof size_set, "image_size=%ld", s);
        if (ca.n_sets < (int)(sizeof ca.sets / sizeof ca.sets[0]))
            ca.sets[ca.n_sets++] = size_set;
    }
    sn_config cfg;
    if (sn_cli_config_resolve(&ca, &cfg) != SN_OK)
        return sn_cli_fail("ingest");
    sn_cli_config_announce("ingest", &cfg);

    MPI_Comm comm = MPI_COMM_WORLD;
    ingest_plan plan;
    memset(&plan, 0, sizeof plan);
    snprintf(plan.dir, sizeof plan.dir, "%s/%s", root, category);
    plan.size = cfg.image_size;
    double t0 = MPI_Wtime();
    sn_status st = sn_dist_agree(plan_build(&plan), comm);
    int64_t dropped = 0;
    if (st == SN_OK && skip_bad)
        st = drop_bad(&plan, comm, &dropped);
    if (st == SN_OK) {
        sn_dsw_category cat = {category, plan.dir, plan.train.n, plan.test.n, plan.train.v,
                               plan.test.v, plan.labels, plan.defect, plan.has_mask,
                               plan.types.v, (int)plan.types.n};
        char source[4200];
        snprintf(source, sizeof source, "ingest %s", plan.dir);
        st = sn_dsw_write(out, force, comm, &cfg, plan.size, source, &cat, 1, produce, &plan);
    }
    double secs = MPI_Wtime() - t0;
    if (st == SN_OK && sn_cli_rank() == 0) {
        int64_t nmask = 0, ndef = 0;
        for (int64_t i = 0; i < plan.test.n; i++) {
            nmask += plan.has_mask[i];
            ndef += plan.labels[i];
        }
        printf("ingest: %s: %lld train, %lld test (%lld defective, %lld with masks, %lld defect "
               "types) at %dx%d -> %s in %.2f s on %d rank(s)\n",
               plan.dir, (long long)plan.train.n, (long long)plan.test.n, (long long)ndef,
               (long long)nmask, (long long)(plan.types.n - 1), plan.size, plan.size, out, secs,
               sn_dist_size(comm));
        /* input volume for throughput figures: every image and mask file read */
        double bytes = 0;
        char p[8600];
        struct stat stt;
        for (int64_t i = 0; i < plan.train.n; i++) {
            snprintf(p, sizeof p, "%s/%s", plan.dir, plan.train.v[i]);
            bytes += stat(p, &stt) == 0 ? (double)stt.st_size : 0;
        }
        for (int64_t i = 0; i < plan.test.n; i++) {
            snprintf(p, sizeof p, "%s/%s", plan.dir, plan.test.v[i]);
            bytes += stat(p, &stt) == 0 ? (double)stt.st_size : 0;
            snprintf(p, sizeof p, "%s/%s", plan.dir, plan.test_masks.v[i]);
            bytes += plan.test_masks.v[i][0] && stat(p, &stt) == 0 ? (double)stt.st_size : 0;
        }
        int64_t nimg = plan.train.n + plan.test.n;
        printf("ingest: throughput %.1f images/s, %.1f MB/s of input files (%.1f MB, masks included)\n",
               nimg / secs, bytes / 1e6 / secs, bytes / 1e6);
        if (skip_bad)
            printf("ingest: skipped %lld bad file(s)\n", (long long)dropped);
    }
    plan_free(&plan);
    return st == SN_OK ? SN_EXIT_OK : sn_cli_fail("ingest");
}
