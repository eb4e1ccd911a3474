/* The ingest stage (sernet/ingest.h): image folders -> a dataset file (format in
 * docs/formats.md). Two layouts: MVTec AD (root/category) and plain folders (good [test_good]
 * [defect [masks]]). Every rank lists the folders (the same lists everywhere), decodes its shard
 * of the images and the ranks write collectively. */
#define _GNU_SOURCE
#include "sernet/ingest.h"
#include "sernet/dataset.h"
#include "sernet/dist.h"
#include "sernet/image.h"
#include "sernet/preprocess.h"
#include "sernet/resize.h"
#include "sernet/strlist.h"
#include "sernet/tile.h"

#include <dirent.h>
#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef sn_strlist strlist;

static int push(strlist *l, const char *s)
{
    return sn_strlist_push(l, s);
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

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
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
        int want = dirs ? S_ISDIR(st.st_mode) : (S_ISREG(st.st_mode) && sn_strlist_is_image_name(e->d_name));
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
    char dir[4096];        /* MVTec: root/category; plain folders: the --good folder */
    int size;
    strlist train, test;   /* names stored in the file (train/good/F, test/<type>/F) */
    strlist train_src, test_src; /* the files read */
    strlist test_masks;    /* the mask file read, or "" */
    strlist types;         /* "good" first, then the defect types */
    uint8_t *labels, *has_mask;
    int32_t *defect;
    /* --tile: training item i is the tile at (tile_x[i], tile_y[i]) of train_src.v[i]; the last
     * decoded source is kept (a rank produces the tiles of one image one after the other) */
    int tiled;
    int32_t *tile_x, *tile_y;
    sn_image cache;
    char *cache_src;
} ingest_plan;

/* The test split's lists and per-item tables, emptied. */
static void free_test(ingest_plan *p)
{
    sn_strlist_free(&p->test);
    sn_strlist_free(&p->test_src);
    sn_strlist_free(&p->test_masks);
    sn_strlist_free(&p->types);
    free(p->labels);
    free(p->has_mask);
    free(p->defect);
    p->labels = p->has_mask = NULL;
    p->defect = NULL;
}

static void plan_free(ingest_plan *p)
{
    sn_strlist_free(&p->train);
    sn_strlist_free(&p->train_src);
    free_test(p);
    free(p->tile_x);
    free(p->tile_y);
    sn_image_free(&p->cache);
    free(p->cache_src);
}

/* One item: the name stored in the file and the file read. */
static sn_status add_item(strlist *names, strlist *srcs, const char *split, const char *type,
                          const char *dir, const char *file)
{
    char name[4200], src[8400];
    if (snprintf(name, sizeof name, "%s/%s/%s", split, type, file) >= (int)sizeof name ||
        snprintf(src, sizeof src, "%s/%s", dir, file) >= (int)sizeof src)
        return SN_ERR(SN_EINVAL, "%s/%s: path too long", dir, file);
    if (push(names, name) || push(srcs, src))
        return SN_ERR(SN_ENOMEM, "listing");
    return SN_OK;
}

/* Labels and defect-type indices from the test names ("test/<type>/..."). */
static sn_status plan_labels(ingest_plan *p)
{
    int64_t m = p->test.n;
    p->labels = calloc((size_t)(m ? m : 1), 1);
    p->has_mask = calloc((size_t)(m ? m : 1), 1);
    p->defect = calloc((size_t)(m ? m : 1), sizeof(int32_t));
    if (!p->labels || !p->has_mask || !p->defect)
        return SN_ERR(SN_ENOMEM, "listing");
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
    return SN_OK;
}

static sn_status plan_build_mvtec(ingest_plan *p)
{
    sn_status status = SN_OK;
    char path[8600];
    strlist files = {0}, folders = {0};
    if (!is_dir(p->dir))
        SN_FAIL(SN_EIO, "%s: category folder not found", p->dir);
    snprintf(path, sizeof path, "%s/train/good", p->dir);
    if (!is_dir(path))
        SN_FAIL(SN_EIO, "%s: training folder not found (expected train/good/ with images)", path);
    SN_TRY(list_dir(path, 0, &files));
    if (files.n == 0)
        SN_FAIL(SN_EINVAL, "%s: no training images (.png, .jpg, .jpeg, .bmp): the training split is empty", path);
    for (int64_t i = 0; i < files.n; i++)
        SN_TRY(add_item(&p->train, &p->train_src, "train", "good", path, files.v[i]));
    sn_strlist_free(&files);
    if (push(&p->types, "good"))
        SN_FAIL(SN_ENOMEM, "listing");
    snprintf(path, sizeof path, "%s/test", p->dir);
    if (!is_dir(path))
        goto labels; /* a category with normal training images only */
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
            SN_TRY(add_item(&p->test, &p->test_src, "test", type, path, files.v[i]));
            char mask[8600] = "";
            if (t > 0 && have_gt) {
                char stem[1024];
                snprintf(stem, sizeof stem, "%s", files.v[i]);
                char *dot = strrchr(stem, '.');
                if (dot)
                    *dot = '\0';
                snprintf(mask, sizeof mask, "%s/ground_truth/%s/%s_mask.png", p->dir, type, stem);
                if (!is_file(mask))
                    SN_FAIL(SN_EIO, "%s/%s: defect image without a mask (expected %s; "
                            "other defect images of this category have masks)",
                            path, files.v[i], mask);
            }
            if (push(&p->test_masks, mask))
                SN_FAIL(SN_ENOMEM, "listing");
        }
        sn_strlist_free(&files);
    }
labels:
    status = plan_labels(p);
done:
    sn_strlist_free(&files);
    sn_strlist_free(&folders);
    return status;
}

/* The plain-folder layout's options. */
typedef struct {
    const char *good, *test_good, *defect, *masks;
} folder_args;

/* The mask of image `file` of type `type`: the first existing candidate (usage text), or "". */
static void find_mask(const char *masks, const char *type, const char *file, char *out, size_t cap)
{
    static const char *ext[] = {"png", "PNG", "bmp", "BMP", "jpg", "JPG", "jpeg", "JPEG"};
    static const char *suffix[] = {"", "_mask"};
    char stem[1024];
    snprintf(stem, sizeof stem, "%s", file);
    char *dot = strrchr(stem, '.');
    if (dot)
        *dot = '\0';
    for (int sub = 0; sub < 2; sub++)
        for (int k = 0; k < 2; k++)
            for (size_t e = 0; e < sizeof ext / sizeof *ext; e++) {
                if (sub == 0)
                    snprintf(out, cap, "%s/%s/%s%s.%s", masks, type, stem, suffix[k], ext[e]);
                else
                    snprintf(out, cap, "%s/%s%s.%s", masks, stem, suffix[k], ext[e]);
                if (is_file(out))
                    return;
            }
    out[0] = '\0';
}

static sn_status plan_build_folders(ingest_plan *p, const folder_args *fa)
{
    sn_status status = SN_OK;
    strlist files = {0}, folders = {0}, missing = {0};
    char path[8600];
    if (!is_dir(fa->good))
        SN_FAIL(SN_EIO, "--good %s: folder not found", fa->good);
    SN_TRY(list_dir(fa->good, 0, &files));
    if (files.n == 0)
        SN_FAIL(SN_EINVAL, "--good %s: no images (.png, .jpg, .jpeg, .bmp) in this folder: the "
                "training split is empty", fa->good);
    for (int i = 0; i < files.n; i++)
        SN_TRY(add_item(&p->train, &p->train_src, "train", "good", fa->good, files.v[i]));
    sn_strlist_free(&files);
    if (push(&p->types, "good"))
        SN_FAIL(SN_ENOMEM, "listing");
    if (fa->test_good) {
        if (!is_dir(fa->test_good))
            SN_FAIL(SN_EIO, "--test-good %s: folder not found", fa->test_good);
        SN_TRY(list_dir(fa->test_good, 0, &files));
        if (files.n == 0)
            SN_FAIL(SN_EINVAL, "--test-good %s: no images (.png, .jpg, .jpeg, .bmp) in this folder",
                    fa->test_good);
        for (int i = 0; i < files.n; i++) {
            SN_TRY(add_item(&p->test, &p->test_src, "test", "good", fa->test_good, files.v[i]));
            if (push(&p->test_masks, ""))
                SN_FAIL(SN_ENOMEM, "listing");
        }
        sn_strlist_free(&files);
    }
    if (fa->defect) {
        if (!is_dir(fa->defect))
            SN_FAIL(SN_EIO, "--defect %s: folder not found", fa->defect);
        if (fa->masks && !is_dir(fa->masks))
            SN_FAIL(SN_EIO, "--masks %s: folder not found", fa->masks);
        /* the types: 'defect' for the folder's own files, then each subfolder with images */
        SN_TRY(list_dir(fa->defect, 0, &files));
        int flat = files.n > 0;
        sn_strlist_free(&files);
        SN_TRY(list_dir(fa->defect, 1, &folders));
        if (flat && push(&p->types, "defect"))
            SN_FAIL(SN_ENOMEM, "listing");
        for (int t = 0; t < folders.n; t++) {
            if (!strcmp(folders.v[t], "good"))
                SN_FAIL(SN_EINVAL, "--defect %s/good: a defect type may not be called 'good' (good "
                        "test images go in --test-good)", fa->defect);
            if (flat && !strcmp(folders.v[t], "defect"))
                SN_FAIL(SN_EINVAL, "--defect %s: both image files and a subfolder 'defect'; the "
                        "files are already of type 'defect'", fa->defect);
            if (push(&p->types, folders.v[t]))
                SN_FAIL(SN_ENOMEM, "listing");
        }
        if (p->types.n == 1)
            SN_FAIL(SN_EINVAL, "--defect %s: no images (.png, .jpg, .jpeg, .bmp) in this folder or "
                    "its subfolders", fa->defect);
        qsort(p->types.v + 1, (size_t)p->types.n - 1, sizeof(char *), cmp_str);
        int64_t first_defect = p->test.n;
        for (int t = 1; t < p->types.n; t++) {
            const char *type = p->types.v[t];
            int own = flat && !strcmp(type, "defect");
            if (own)
                snprintf(path, sizeof path, "%s", fa->defect);
            else
                snprintf(path, sizeof path, "%s/%s", fa->defect, type);
            SN_TRY(list_dir(path, 0, &files));
            if (files.n == 0)
                SN_FAIL(SN_EINVAL, "%s: empty defect folder (no .png, .jpg, .jpeg or .bmp images)", path);
            for (int i = 0; i < files.n; i++) {
                SN_TRY(add_item(&p->test, &p->test_src, "test", type, path, files.v[i]));
                char mask[8600] = "";
                if (fa->masks) {
                    find_mask(fa->masks, type, files.v[i], mask, sizeof mask);
                    char name[8700];
                    snprintf(name, sizeof name, "%s/%s", path, files.v[i]);
                    if (!mask[0] && push(&missing, name))
                        SN_FAIL(SN_ENOMEM, "listing");
                }
                if (push(&p->test_masks, mask))
                    SN_FAIL(SN_ENOMEM, "listing");
            }
            sn_strlist_free(&files);
        }
        if (missing.n) {
            char list[2048] = "";
            size_t used = 0;
            for (int i = 0; i < missing.n && i < 10; i++)
                used += (size_t)snprintf(list + used, sizeof list - used > 0 ? sizeof list - used : 0,
                                         "%s%s", i ? ", " : "", missing.v[i]);
            SN_FAIL(SN_EINVAL, "--masks %s: %d of %lld defective images have no mask (matched by "
                    "file stem: <stem> or <stem>_mask, in the type's subfolder or the folder "
                    "itself): %s%s", fa->masks, missing.n, (long long)(p->test.n - first_defect),
                    list, missing.n > 10 ? ", ..." : "");
        }
        /* one mask for two images means the stems collide across types */
        for (int64_t i = first_defect; fa->masks && i < p->test.n; i++)
            for (int64_t j = i + 1; j < p->test.n; j++)
                if (!strcmp(p->test_masks.v[i], p->test_masks.v[j]))
                    SN_FAIL(SN_EINVAL, "--masks %s: %s is the mask of both %s and %s (the same "
                            "file stem in two defect types): put the masks in one subfolder per type",
                            fa->masks, p->test_masks.v[i], p->test_src.v[i], p->test_src.v[j]);
    }
    status = plan_labels(p);
done:
    sn_strlist_free(&files);
    sn_strlist_free(&folders);
    sn_strlist_free(&missing);
    return status;
}

/* Decode, make 3 channels, resize (sn_preprocess_rgb8); the mask (if any) must match the image's
 * original size. */
static sn_status ingest_item(const ingest_plan *p, const char *src, const char *mask_src,
                             uint8_t *image, uint8_t *mask, int32_t orig[2])
{
    sn_status status = SN_OK;
    sn_image img = {0}, mimg = {0};
    float *mf = NULL, *mo = NULL;
    const int S = p->size;
    SN_TRY(sn_image_read(src, &img));
    orig[0] = img.h;
    orig[1] = img.w;
    /* the same preprocessing as the inspection API's (sernet/preprocess.h) */
    SN_TRY(sn_preprocess_rgb8(img.data, img.w, img.h, (sn_pixel_format)img.c, 0, S, image));
    if (mask) {
        memset(mask, 0, (size_t)S * S);
        if (mask_src && mask_src[0]) {
            SN_TRY(sn_image_read(mask_src, &mimg));
            if (mimg.w != img.w || mimg.h != img.h)
                SN_FAIL(SN_EFORMAT, "%s: mask is %dx%d but its image %s is %dx%d", mask_src, mimg.w,
                        mimg.h, src, img.w, img.h);
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

/* --tile: training item i, the S x S tile of its source at native resolution (the same
 * preprocessing as the inspection API's, sn_preprocess_rgb8, whose resize is the identity here). */
static sn_status ingest_tile(ingest_plan *p, int64_t i, uint8_t *image, int32_t orig[2])
{
    sn_status status = SN_OK;
    const char *src = p->train_src.v[i];
    const int S = p->size, x = p->tile_x[i], y = p->tile_y[i];
    if (!p->cache_src || strcmp(p->cache_src, src) != 0) {
        sn_image_free(&p->cache);
        free(p->cache_src);
        p->cache_src = NULL;
        SN_TRY(sn_image_read(src, &p->cache));
        if (!(p->cache_src = strdup(src)))
            SN_FAIL(SN_ENOMEM, "%s: file name", src);
    }
    const sn_image *im = &p->cache;
    if (x + S > im->w || y + S > im->h)
        SN_FAIL(SN_EFORMAT, "%s: image is %d x %d, the tile at (%d, %d) needs %d x %d (the file changed "
                "while ingesting?)", src, im->w, im->h, x, y, x + S, y + S);
    SN_TRY(sn_preprocess_rgb8(im->data + ((size_t)y * im->w + x) * im->c, S, S, (sn_pixel_format)im->c,
                              (size_t)im->w * im->c, S, image));
    orig[0] = im->h;
    orig[1] = im->w;
done:
    return status;
}

/* --tile: the size of every training image (each rank decodes its shard, the sizes are summed
 * over ranks), then the training split becomes the tiles of each image in raster order. */
static sn_status plan_tiles(ingest_plan *p, int overlap, MPI_Comm comm)
{
    sn_status status = SN_OK;
    const int64_t n = p->train.n;
    int64_t begin, count, nt = 0;
    int32_t *dims = NULL, *all = NULL;
    strlist names = {0}, srcs = {0};
    sn_tile_grid g;
    SN_CALLOC(dims, 2 * n, "image sizes");
    SN_CALLOC(all, 2 * n, "image sizes");
    sn_dist_shard(n, sn_dist_rank(comm), sn_dist_size(comm), &begin, &count);
    for (int64_t i = begin; i < begin + count; i++) {
        sn_image im = {0};
        SN_TRY(sn_image_read(p->train_src.v[i], &im));
        dims[2 * i] = im.w;
        dims[2 * i + 1] = im.h;
        sn_image_free(&im);
    }
done:
    status = sn_dist_agree(status, comm);
    if (status == SN_OK &&
        MPI_Allreduce(dims, all, (int)(2 * n), MPI_INT32_T, MPI_SUM, comm) != MPI_SUCCESS)
        status = SN_ERR(SN_EMPI, "MPI_Allreduce of the training image sizes failed");
    /* the same on every rank from here: no agreement needed */
    for (int64_t i = 0; i < n && status == SN_OK; i++) {
        status = sn_tile_grid_make(all[2 * i], all[2 * i + 1], p->size, overlap, p->train_src.v[i], &g);
        nt += sn_tile_count(&g);
    }
    if (status == SN_OK) {
        p->tile_x = malloc(sizeof(int32_t) * (size_t)nt);
        p->tile_y = malloc(sizeof(int32_t) * (size_t)nt);
        if (!p->tile_x || !p->tile_y)
            status = SN_ERR(SN_ENOMEM, "%lld training tiles", (long long)nt);
    }
    for (int64_t i = 0, k = 0; i < n && status == SN_OK; i++) {
        sn_tile_grid_make(all[2 * i], all[2 * i + 1], p->size, overlap, p->train_src.v[i], &g);
        for (int t = 0; t < sn_tile_count(&g) && status == SN_OK; t++, k++) {
            int x, y;
            char name[4300];
            sn_tile_origin(&g, t, &x, &y);
            snprintf(name, sizeof name, "%s@%d,%d", p->train.v[i], x, y);
            if (push(&names, name) || push(&srcs, p->train_src.v[i]))
                status = SN_ERR(SN_ENOMEM, "listing the training tiles");
            p->tile_x[k] = x;
            p->tile_y[k] = y;
        }
    }
    if (status == SN_OK) {
        sn_strlist_free(&p->train);
        sn_strlist_free(&p->train_src);
        p->train = names;
        p->train_src = srcs;
        memset(&names, 0, sizeof names);
        memset(&srcs, 0, sizeof srcs);
        p->tiled = 1;
    }
    sn_strlist_free(&names);
    sn_strlist_free(&srcs);
    sn_free(dims);
    sn_free(all);
    return status;
}

/* --tile: no test split (its images belong at their own size in another file). */
static sn_status drop_test(ingest_plan *p)
{
    free_test(p);
    if (push(&p->types, "good"))
        return SN_ERR(SN_ENOMEM, "listing");
    return plan_labels(p);
}

static sn_status produce(void *ctx, int cat, int split, int64_t i, uint8_t *image, uint8_t *mask,
                         int32_t orig[2])
{
    ingest_plan *p = ctx;
    (void)cat;
    if (split == 0 && p->tiled)
        return ingest_tile(p, i, image, orig);
    if (split == 0)
        return ingest_item(p, p->train_src.v[i], NULL, image, NULL, orig);
    return ingest_item(p, p->test_src.v[i], p->test_masks.v[i], image, mask, orig);
}

/* Keep the entries of l whose flag is 0 (in order); returns how many were dropped. */
static int64_t keep_unflagged(strlist *l, const uint8_t *flag)
{
    int w = 0;
    for (int i = 0; i < l->n; i++) {
        if (flag[i])
            free(l->v[i]);
        else
            l->v[w++] = l->v[i];
    }
    int64_t d = l->n - w;
    l->n = w;
    return d;
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
        sn_status st = i < nt ? ingest_item(p, p->train_src.v[i], NULL, img, NULL, orig)
                              : ingest_item(p, p->test_src.v[i - nt], p->test_masks.v[i - nt], img, msk, orig);
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
        int64_t d = keep_unflagged(&p->train, all);
        keep_unflagged(&p->train_src, all);
        const uint8_t *tf = all + nt;
        int64_t w = 0;
        for (int64_t i = 0; i < p->test.n; i++)
            if (!tf[i]) {
                p->labels[w] = p->labels[i];
                p->has_mask[w] = p->has_mask[i];
                p->defect[w] = p->defect[i];
                w++;
            }
        d += keep_unflagged(&p->test, tf);
        keep_unflagged(&p->test_src, tf);
        keep_unflagged(&p->test_masks, tf);
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

static double file_bytes(const char *path)
{
    struct stat st;
    return path[0] && stat(path, &st) == 0 ? (double)st.st_size : 0;
}

void sn_ingest_options_init(sn_ingest_options *o)
{
    memset(o, 0, sizeof *o);
    o->overlap = SN_TILE_OVERLAP_DEFAULT;
}

/* The options a C caller may get wrong (the CLI refuses them earlier with its usage text). */
static sn_status check_options(const sn_ingest_options *o)
{
    const int folders = o->good || o->test_good || o->defect || o->masks;
    if (!o->cfg || !o->category || !o->out || (!o->root && !o->good))
        return SN_ERR(SN_EINVAL, "ingest: the configuration, category, output file and root or good "
                      "folder are required");
    if (o->root && folders)
        return SN_ERR(SN_EINVAL, "ingest: root (MVTec AD layout) and good/test_good/defect/masks "
                      "(plain folders) are two ways in: give one");
    if (o->masks && !o->defect)
        return SN_ERR(SN_EINVAL, "ingest: masks needs defect (the masks belong to the defective images)");
    if (o->tile && (o->test_good || o->defect))
        return SN_ERR(SN_EINVAL, "ingest: tile cuts the training images into tiles: no test_good or defect");
    if (!o->tile && o->overlap != SN_TILE_OVERLAP_DEFAULT)
        return SN_ERR(SN_EINVAL, "ingest: overlap needs tile");
    if (strchr(o->category, '/') || strchr(o->category, ',') || !o->category[0])
        return SN_ERR(SN_EINVAL, "ingest: category '%s': a folder name without '/' or ','", o->category);
    return SN_OK;
}

sn_status sn_ingest_run(const sn_ingest_options *o, MPI_Comm comm, sn_ingest_summary *summary)
{
    ingest_plan plan;
    memset(&plan, 0, sizeof plan);
    memset(summary, 0, sizeof *summary);
    sn_status st = check_options(o);
    if (st != SN_OK)
        return st;
    const char *root = o->root, *category = o->category, *out = o->out;
    const folder_args fa = {o->good, o->test_good, o->defect, o->masks};
    const int tile = o->tile;
    int overlap = o->overlap;
    char source[8400];
    if (root) {
        snprintf(plan.dir, sizeof plan.dir, "%s/%s", root, category);
        snprintf(source, sizeof source, "ingest %s", plan.dir);
    } else {
        snprintf(plan.dir, sizeof plan.dir, "%s", fa.good);
        snprintf(source, sizeof source, "ingest --good %s%s%s%s%s%s%s", fa.good,
                 fa.test_good ? " --test-good " : "", fa.test_good ? fa.test_good : "",
                 fa.defect ? " --defect " : "", fa.defect ? fa.defect : "",
                 fa.masks ? " --masks " : "", fa.masks ? fa.masks : "");
    }
    plan.size = o->cfg->image_size;
    if (tile) {
        /* a bad --overlap is refused before any image is read */
        sn_tile_grid g;
        overlap = overlap == SN_TILE_OVERLAP_DEFAULT ? sn_tile_default_overlap(plan.size) : overlap;
        if ((st = sn_tile_grid_make(plan.size, plan.size, plan.size, overlap, "--overlap", &g)) != SN_OK)
            return st;
    }
    double t0 = MPI_Wtime();
    st = sn_dist_agree(root ? plan_build_mvtec(&plan) : plan_build_folders(&plan, &fa), comm);
    int64_t dropped = 0, n_sources = plan.train.n, left_out = 0;
    if (st == SN_OK && tile) {
        left_out = plan.test.n;
        st = drop_test(&plan);
    }
    if (st == SN_OK && o->skip_bad)
        st = drop_bad(&plan, comm, &dropped);
    n_sources = plan.train.n;
    if (st == SN_OK && tile)
        st = plan_tiles(&plan, overlap, comm);
    if (st == SN_OK) {
        sn_dsw_category cat = {category, root ? plan.dir : source, plan.train.n, plan.test.n, plan.train.v,
                               plan.test.v, plan.labels, plan.defect, plan.has_mask,
                               plan.types.v, (int)plan.types.n};
        st = sn_dsw_write(out, o->force, comm, o->cfg, plan.size, source, &cat, 1, produce, &plan);
    }
    if (st == SN_OK) {
        sn_ingest_summary *s = summary;
        s->seconds = MPI_Wtime() - t0;
        snprintf(s->label, sizeof s->label, "%s", root ? plan.dir : category);
        s->n_train = plan.train.n;
        s->n_test = plan.test.n;
        for (int64_t i = 0; i < plan.test.n; i++) {
            s->n_masks += plan.has_mask[i];
            s->n_defective += plan.labels[i];
        }
        s->n_defect_types = (int)plan.types.n - 1;
        s->size = plan.size;
        s->n_sources = n_sources;
        s->n_skipped = dropped;
        s->n_left_out = left_out;
        s->overlap = tile ? overlap : 0;
        s->ranks = sn_dist_size(comm);
        /* input volume for throughput figures: every image and mask file read (rank 0) */
        for (int64_t i = 0; sn_dist_rank(comm) == 0 && i < plan.train.n; i++) /* with --tile: each file once, not per tile */
            if (i == 0 || strcmp(plan.train_src.v[i], plan.train_src.v[i - 1]) != 0)
                s->input_bytes += file_bytes(plan.train_src.v[i]);
        for (int64_t i = 0; sn_dist_rank(comm) == 0 && i < plan.test.n; i++)
            s->input_bytes += file_bytes(plan.test_src.v[i]) + file_bytes(plan.test_masks.v[i]);
    }
    plan_free(&plan);
    return st;
}
