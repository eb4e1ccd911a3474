/* The pseudo stage (sernet/pseudo_sheets.h): PNG sheets (clean | mask | pseudo-anomalous) of the
 * training samples PPA or DPA produces, so a person can look at what the networks are trained on. */
#include "sernet/pseudo_sheets.h"
#include "sernet/dataset.h"
#include "sernet/dist.h"
#include "sernet/fsutil.h"
#include "sernet/image.h"

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
    const sn_pseudo_sheets_options *o;
    const char *data, *out_dir, *kind;
    int dpa, rank, size;
    long long count, epoch, start;
    uint64_t seed;
    sn_pseudo_params p;
    sn_dataset *ds;
    int64_t n_train;
    sn_pseudo_work *w;
    float *img, *out, *mask;
    int64_t written;         /* by this rank */
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
        r->written++;
        if (r->o->on_sheet) {
            sn_pseudo_sheet sheet = {path, idx, name, r->dpa, r->p.size, &info};
            r->o->on_sheet(r->o->ctx, &sheet);
        }
    }
done:
    return status;
}

sn_status sn_pseudo_sheets_run(const sn_pseudo_sheets_options *o, MPI_Comm comm,
                               sn_pseudo_sheets_summary *summary)
{
    sn_status status = SN_OK;
    memset(summary, 0, sizeof *summary);
    if (!o->cfg || !o->data || !o->out_dir || o->count < 0 || o->epoch < 0 || o->start < 0)
        return SN_ERR(SN_EINVAL, "pseudo: a configuration, the dataset file, the output folder and "
                      "count, epoch, start >= 0 are required");
    pseudo_run run = {0};
    run.o = o;
    run.data = o->data;
    run.out_dir = o->out_dir;
    run.kind = o->dpa ? "dpa" : "ppa";
    run.dpa = o->dpa;
    run.count = o->count;
    run.epoch = o->epoch;
    run.start = o->start;
    run.rank = sn_dist_rank(comm);
    run.size = sn_dist_size(comm);
    run.seed = (uint64_t)o->cfg->seed;
    sn_pseudo_params_from_config(&run.p, o->cfg);
    /* Each phase may fail on some ranks only; sn_dist_agree makes every rank take the same path
     * (and carry the failing rank's message) before the next collective step. */
    status = sn_dataset_open(o->data, o->category, comm, &run.ds); /* agrees itself */
    if (status == SN_OK)
        status = sn_dist_agree(prepare(&run), comm);
    if (status == SN_OK)
        status = sn_dist_agree(generate(&run), comm);
    if (status == SN_OK) {
        int64_t all = 0;
        if (MPI_Allreduce(&run.written, &all, 1, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS)
            status = SN_ERR(SN_EMPI, "MPI_Allreduce of the sheet count failed");
        summary->written = all;
    }
    sn_pseudo_work_free(run.w);
    sn_free(run.img);
    sn_free(run.out);
    sn_free(run.mask);
    sn_dataset_close(run.ds);
    return status;
}
