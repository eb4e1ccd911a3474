/* `sernet infer`: distributed inference into a results file (include/sernet/results.h). */
#include "sernet/bundle.h"
#include "sernet/dist.h"
#include "sernet/hashindex.h"
#include "sernet/infer.h"
#include "sernet/infer_tile.h"
#include "sernet/repair.h"
#include "sernet/results.h"
#include "sernet/stop.h"
#include "sernet/testhook.h"
#include "sernet/threads.h"

#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the run --------------------------------------------------------------------------------- */

typedef struct {
    const sn_infer_options *o;
    MPI_Comm comm;
    int rank, size;
    sn_model *model;
    sn_dataset *ds;
    sn_h5file f;
    hid_t d[SN_RES_N_ROWS];
    int s;
    int64_t m;
    int resumed; /* continuing an interrupted file */
    int64_t resumed_batch; /* its batch attribute (-1: absent), read by check_resumable */
    int batch; /* rows per group (stored in the file: a resumed run uses the same groups) */
    uint64_t *hashes;
    int64_t n_hashes;
    sn_trainset bundle_train; /* with a bundle: its training images (hashes moved to `hashes`) */
    int from_bundle;
    char data_fp[17];
    /* --tile: the grid of every test image, the dataset of the training tiles (r->ds or its own) */
    int tiled;
    sn_tile_grid grid;
    sn_dataset *train_ds;
    char train_fp[17]; /* the training tiles' identity: FNV-1a 64 of S and their hash index */
} run_state;

/* --tile: what identifies the training tiles the repair draws from (their size and hashes). */
static void train_fingerprint(const run_state *r, char out[17])
{
    uint64_t h = SN_FNV_OFFSET;
    const int64_t s = r->grid.tile;
    h = sn_fnv1a(h, &s, sizeof s);
    h = sn_fnv1a(h, r->hashes, (size_t)r->n_hashes * sizeof *r->hashes);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static sn_status create_file(run_state *r)
{
    const sn_results_info in = {
        .cfg = sn_model_config(r->model), .model = r->o->model,
        .model_fingerprint = sn_model_fingerprint(r->model), .data = r->o->data,
        .data_fingerprint = r->data_fp, .category = sn_dataset_category(r->ds), .s = r->s,
        .m = r->m, .tau = sn_model_tau(r->model), .min_area = sn_model_min_area(r->model),
        .ranks = r->size, .batch = r->batch, .tile = r->tiled ? r->grid.tile : 0,
        .tile_overlap = r->tiled ? r->grid.overlap : 0,
        .train_data = r->o->train_data ? r->o->train_data : r->o->data,
        .train_fingerprint = r->train_fp};
    return sn_results_create(&r->f, r->o->out, r->comm, &in, r->d);
}

static sn_status open_datasets(run_state *r)
{
    return sn_results_open_rows(&r->f, r->m, r->s, r->d);
}

/* Local check of an interrupted file against this run's model and data. */
static sn_status check_resumable(run_state *r, const char *shown)
{
    sn_status status = SN_OK;
    sn_results_header h;
    SN_TRY(sn_results_read_header(&r->f, shown, 0, &h));
    SN_TRY(sn_results_check_dataset(&r->f, shown, &h, r->ds));
    r->resumed_batch = h.batch;
    if (strcmp(h.model_fingerprint, sn_model_fingerprint(r->model)) != 0)
        SN_FAIL(SN_EINVAL, "%s: results were made by another model (%s, fingerprint %s; %s has %s, or "
                "another repair threshold): remove it or choose another --out", shown, h.model,
                h.model_fingerprint, r->o->model, sn_model_fingerprint(r->model));
    const int want_tile = r->tiled ? r->grid.tile : 0, want_overlap = r->tiled ? r->grid.overlap : 0;
    if (h.tile != want_tile || h.tile_overlap != want_overlap) {
        char had[64] = "no tiling", asks[64] = "no tiling";
        if (h.tile)
            snprintf(had, sizeof had, "--tile --overlap %d", h.tile_overlap);
        if (want_tile)
            snprintf(asks, sizeof asks, "--tile --overlap %d", want_overlap);
        SN_FAIL(SN_EINVAL, "%s: results were made with %s, this run asks for %s: use the same "
                "tiling, or remove it or choose another --out", shown, had, asks);
    }
    if (r->tiled) {
        if (!h.has_train_id) /* a tiled file always has both: damaged */
            SN_FAIL(SN_EFORMAT, "%s: tiled results without the training tiles' identity "
                    "(train_data, train_fingerprint): damaged, remove it or choose another --out",
                    shown);
        if (strcmp(h.train_fingerprint, r->train_fp) != 0)
            SN_FAIL(SN_EINVAL, "%s: results were made with other training tiles (%s, fingerprint "
                    "%s; %s has %s): use the same --train-data, or remove it or choose another "
                    "--out", shown, h.train_data, h.train_fingerprint,
                    r->o->train_data ? r->o->train_data : r->o->data, r->train_fp);
    }
done:
    return status;
}

static void close_datasets(run_state *r)
{
    for (int i = 0; i < SN_RES_N_ROWS; i++)
        if (r->d[i] >= 0) {
            H5Dclose(r->d[i]);
            r->d[i] = H5I_INVALID_HID;
        }
}

/* Decide how to start. Sets *mode: 0 new file, 1 resume the .tmp, 2 <out> is already complete. */
static sn_status prepare_output(run_state *r, int *mode)
{
    sn_status status = SN_OK;
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", r->o->out);
    int have_out = access(r->o->out, F_OK) == 0, have_tmp = access(tmp, F_OK) == 0;
    *mode = 0;
    if (r->o->force)
        return SN_OK;
    if (!r->o->resume) {
        if (have_tmp)
            return SN_ERR(SN_EINVAL, "%s holds an interrupted run: continue it with --resume, or "
                          "start over with --force", tmp);
        if (have_out)
            return SN_ERR(SN_EINVAL, "%s: output file exists (use --force to replace it)", r->o->out);
        return SN_OK;
    }
    if (have_tmp)
        *mode = 1;
    else if (have_out)
        *mode = 2;
    return status;
}

static sn_status read_done(run_state *r, uint8_t *done)
{
    sn_status status = SN_OK;
    int64_t v = r->resumed_batch;
    if (v < 1 || v > 64)
        SN_FAIL(SN_EFORMAT, "%s: attribute batch = %lld, expected 1..64", r->f.tmp, (long long)v);
    if (v != r->batch && r->rank == 0)
        fprintf(stderr, "infer: continuing with the interrupted run's --batch %lld (not %d), so "
                "that every row is computed alike\n", (long long)v, r->batch);
    r->batch = (int)v;
    SN_TRY(sn_results_read_col(&r->f, r->d[SN_RES_DONE], SN_RES_DONE, 0, r->m, done));
    for (int64_t i = 0; i < r->m; i++)
        if (done[i] > 1)
            SN_FAIL(SN_EFORMAT, "%s: /done[%lld] = %d, expected 0 or 1", r->f.tmp, (long long)i,
                    done[i]);
done:
    return status;
}

typedef struct {
    int cap;
    int64_t *rows, *nbr;
    int32_t *dist;
    uint8_t *img, *sim, *repair, *recon, *ones;
    float *scores, *maps, *seg;
    int64_t *repaired;
    uint64_t *check;
} batch_buf;

static sn_status batch_alloc(batch_buf *b, int cap, int s)
{
    sn_status status = SN_OK;
    const size_t plane = (size_t)s * s;
    b->cap = cap;
    SN_ALLOC(b->rows, cap, "batch rows");
    SN_ALLOC(b->nbr, cap, "neighbour indices");
    SN_ALLOC(b->dist, cap, "neighbour distances");
    SN_ALLOC(b->img, cap * plane * 3, "test images");
    SN_ALLOC(b->sim, cap * plane * 3, "similar training images");
    SN_ALLOC(b->repair, cap * plane, "repair masks");
    SN_ALLOC(b->recon, cap * plane * 3, "reconstructions");
    SN_ALLOC(b->ones, cap, "done flags");
    SN_ALLOC(b->scores, cap, "scores");
    SN_ALLOC(b->maps, cap * plane, "anomaly maps");
    SN_ALLOC(b->seg, cap * plane, "segmentation masks");
    SN_ALLOC(b->repaired, cap, "repaired pixels");
    SN_ALLOC(b->check, cap, "row checksums");
    memset(b->ones, 1, (size_t)cap);
done:
    return status;
}

static void batch_free(batch_buf *b)
{
    sn_free(b->rows); sn_free(b->nbr); sn_free(b->dist); sn_free(b->img); sn_free(b->sim);
    sn_free(b->repair); sn_free(b->recon); sn_free(b->ones); sn_free(b->scores); sn_free(b->maps);
    sn_free(b->seg); sn_free(b->repaired); sn_free(b->check);
}

/* This rank's part of one round: read, search, infer. */
static sn_status compute(run_state *r, sn_infer_worker *w, batch_buf *b, int n, sn_infer_summary *sum,
                         sn_infer_times *tt)
{
    sn_status status = SN_OK;
    if (n == 0)
        return SN_OK;
    double t0 = omp_get_wtime();
    SN_TRY(sn_dataset_read(r->ds, SN_SPLIT_TEST, b->rows, n, NULL, NULL, b->img));
    double t1 = omp_get_wtime();
    if (r->tiled) {
        /* each image on its own: its tiles in groups of --batch (sernet/infer_tile.h) */
        const size_t plane = (size_t)r->s * r->s;
        const sn_infer_tile_source src = {r->hashes, r->n_hashes, r->train_ds};
        sn_infer_tile_times st = {0};
        sum->t_read += t1 - t0;
        for (int i = 0; i < n; i++) {
            sn_infer_out out = {b->scores + i, b->maps + i * plane, b->seg + i * plane,
                                b->repair + i * plane, b->recon + i * plane * 3, b->repaired + i};
            SN_TRY(sn_infer_tiled(w, &r->grid, r->batch, b->img + i * plane * 3, &src, &out, b->nbr + i,
                                  b->dist + i, tt, &st));
        }
        sum->t_read += st.read;
        sum->t_search += st.search;
        return SN_OK;
    }
    int dist[64];
    SN_ASSERT(n <= 64);
    SN_TRY(sn_hashindex_nearest_images(r->hashes, r->n_hashes, b->img, n, r->s, b->nbr, dist));
    for (int i = 0; i < n; i++)
        b->dist[i] = dist[i];
    double t2 = omp_get_wtime();
    if (r->from_bundle) {
        const size_t bytes = (size_t)r->s * r->s * 3;
        for (int i = 0; i < n; i++)
            memcpy(b->sim + (size_t)i * bytes, r->bundle_train.images + (size_t)b->nbr[i] * bytes, bytes);
    } else {
        SN_TRY(sn_dataset_read(r->ds, SN_SPLIT_TRAIN, b->nbr, n, NULL, NULL, b->sim));
    }
    double t3 = omp_get_wtime();
    sum->t_read += (t1 - t0) + (t3 - t2);
    sum->t_search += t2 - t1;
    sn_infer_out out = {b->scores, b->maps, b->seg, b->repair, b->recon, b->repaired};
    SN_TRY(sn_infer_batch(w, n, b->img, b->sim, &out, tt));
done:
    return status;
}

static sn_status write_round(run_state *r, batch_buf *b, int n)
{
    sn_status status = SN_OK;
    const size_t plane = (size_t)r->s * r->s;
    for (int i = 0; i < n; i++)
        b->check[i] = sn_results_row_checksum(r->s, b->scores[i], b->maps + i * plane, b->seg + i * plane,
                                   b->repair + i * plane, b->recon + i * plane * 3, b->nbr[i],
                                   b->dist[i], b->repaired[i]);
    const void *src[SN_RES_N_ROWS] = {b->scores, b->maps, b->seg, b->repair, b->recon,
                                b->nbr, b->dist, b->repaired, b->check, b->ones};
    /* the done flags go last: a row counts only once all its data are in the file */
    for (int i = 0; i < SN_RES_N_ROWS; i++)
        SN_TRY(sn_h5_write_rowset(&r->f, r->d[i], sn_results_col_name(i), sn_results_col_mem_type(i),
                                  b->rows, n, src[i]));
    SN_TRY(sn_h5_flush(&r->f));
done:
    return status;
}

static void progress(run_state *r, int64_t done, double t0)
{
    if (r->rank != 0 || r->o->quiet)
        return;
    double dt = omp_get_wtime() - t0;
    printf("infer: %lld/%lld rows done (%.1f images/s)\n", (long long)done, (long long)r->m,
           dt > 0 ? (double)done / dt : 0.0);
    fflush(stdout);
}

static sn_status rows_loop(run_state *r, uint8_t *done, sn_infer_summary *sum)
{
    sn_status status = SN_OK;
    int64_t begin = 0, count = 0, ntodo = 0, *todo = NULL;
    sn_infer_worker *w = NULL;
    batch_buf b;
    sn_infer_times tt = {0};
    memset(&b, 0, sizeof b);
    /* Rows are processed in fixed groups [g*batch, (g+1)*batch) whatever the number of ranks:
     * the engine's arithmetic depends on how images are batched together, so fixed groups make
     * the file's data independent of the rank count. Ranks take contiguous runs of groups; a
     * group is written with its done flags in one round, so a group is done entirely or not. */
    const int batch = r->batch;
    const int64_t groups = (r->m + batch - 1) / batch;
    sn_dist_shard(groups, r->rank, r->size, &begin, &count);
    SN_ALLOC(todo, count > 0 ? count : 1, "groups to do");
    if (r->resumed && count > 0) {
        /* rows kept from the interrupted run are used only if their checksums hold */
        int64_t r0 = begin * batch, r1 = SN_MIN(r->m, (begin + count) * batch), bad = -1;
        while (r0 < r1) {
            sn_status v = sn_results_verify_rows(&r->f, r->f.tmp, r->s, r0, r1 - r0, done + r0, &bad);
            if (v == SN_OK)
                break;
            if (bad < 0) {
                status = v;
                goto done;
            }
            fprintf(stderr, "infer: %s; computing it again\n", sn_err_msg());
            sn_err_clear();
            done[bad] = 0;
            r0 = bad + 1;
        }
    }
    for (int64_t g = begin; g < begin + count; g++) {
        int all_done = 1;
        for (int64_t i = g * batch; i < SN_MIN(r->m, (g + 1) * batch); i++)
            all_done &= done[i] != 0;
        if (!all_done)
            todo[ntodo++] = g;
    }
    SN_TRY(batch_alloc(&b, batch, r->s));
    SN_TRY(sn_infer_worker_create(r->model, 0, &w));
done: /* end of the set-up (SN_TRY's label); every rank learns of a failure here */
    status = sn_dist_agree(status, r->comm);
    if (status != SN_OK)
        goto cleanup;
    long long rounds = ntodo, all_rounds = 0;
    if (MPI_Allreduce(&rounds, &all_rounds, 1, MPI_LONG_LONG, MPI_MAX, r->comm) != MPI_SUCCESS)
        status = SN_ERR(SN_EMPI, "MPI_Allreduce of the round count failed");
    for (int64_t i = 0; i < r->m; i++)
        sum->done_before += done[i];
    double t0 = omp_get_wtime();
    int64_t done_global = sum->done_before;
    long long every = SN_MAX(1, all_rounds / 20);
    for (long long k = 0; k < all_rounds && status == SN_OK; k++) {
        int n = 0;
        if (k < ntodo)
            for (int64_t i = todo[k] * batch; i < SN_MIN(r->m, (todo[k] + 1) * batch); i++)
                b.rows[n++] = i;
        sn_testhook_delay("SERNET_INFER_DELAY_MS"); /* tests only: docs/hardening.md */
        sn_status local = compute(r, w, &b, n, sum, &tt);
        /* one collective decision per round: an error anywhere, or a stop request */
        int flags[2] = {local != SN_OK, sn_stop_requested()}, all[2];
        status = sn_dist_agree(local, r->comm);
        if (status != SN_OK)
            break;
        double tw = omp_get_wtime();
        status = sn_dist_agree(write_round(r, &b, n), r->comm);
        sum->t_write += omp_get_wtime() - tw;
        if (status != SN_OK)
            break;
        long long nn = n, tot = 0;
        if (MPI_Allreduce(flags, all, 2, MPI_INT, MPI_MAX, r->comm) != MPI_SUCCESS ||
            MPI_Allreduce(&nn, &tot, 1, MPI_LONG_LONG, MPI_SUM, r->comm) != MPI_SUCCESS) {
            status = SN_ERR(SN_EMPI, "MPI_Allreduce after round %lld failed", k);
            break;
        }
        done_global += tot;
        if ((k + 1) % every == 0 || k + 1 == all_rounds)
            progress(r, done_global, t0);
        if (all[1] && k + 1 < all_rounds) {
            sum->interrupted = 1;
            break;
        }
    }
    sum->seconds = omp_get_wtime() - t0;
    sum->done_now = done_global - sum->done_before;
    sum->t_seg = tt.seg;
    sum->t_repair = tt.repair;
    sum->t_rec = tt.rec;
    sum->t_map = tt.map;
cleanup:
    sn_infer_worker_free(w);
    batch_free(&b);
    sn_free(todo);
    return status;
}

/* With model thresholds: /normalized_scores (score / image threshold) and /verdicts (1 defect,
 * 0 good) per row, and the thresholds as root attributes; the defect mask of row i is
 * /maps[i] > pixel_threshold (collective; a resumed finish reuses the datasets). */
static sn_status write_verdicts(run_state *r, sn_infer_summary *sum)
{
    sn_status status = SN_OK;
    const sn_thresholds *t = sn_model_thresholds(r->model);
    float *sc = NULL, *norm = NULL;
    uint8_t *ver = NULL;
    hid_t dn = H5I_INVALID_HID, dv = H5I_INVALID_HID;
    int64_t b = 0, c = 0, defects = 0;
    if (!t->set)
        return SN_OK;
    sn_dist_shard(r->m, r->rank, r->size, &b, &c);
    SN_ALLOC(sc, c > 0 ? c : 1, "scores");
    SN_ALLOC(norm, c > 0 ? c : 1, "normalised scores");
    SN_ALLOC(ver, c > 0 ? c : 1, "verdicts");
    SN_TRY(sn_results_read_col(&r->f, r->d[SN_RES_SCORES], SN_RES_SCORES, b, c, sc));
    for (int64_t i = 0; i < c; i++) {
        norm[i] = (float)sn_thresholds_normalise(t, sc[i]);
        ver[i] = sc[i] > t->image;
        defects += ver[i];
    }
done:
    status = sn_dist_agree(status, r->comm);
    if (status == SN_OK) {
        hsize_t dims[1] = {(hsize_t)r->m};
        if (sn_h5_exists(&r->f, sn_results_col_name(SN_RES_VERDICTS))) {
            status = sn_results_open_col(&r->f, SN_RES_NORMALIZED, r->m, r->s, &dn);
            if (status == SN_OK)
                status = sn_results_open_col(&r->f, SN_RES_VERDICTS, r->m, r->s, &dv);
        } else {
            status = sn_h5_dataset_create(&r->f, sn_results_col_name(SN_RES_NORMALIZED), H5T_IEEE_F32LE,
                                          1, dims, NULL, &dn);
            if (status == SN_OK)
                status = sn_h5_dataset_create(&r->f, sn_results_col_name(SN_RES_VERDICTS), H5T_STD_U8LE,
                                              1, dims, NULL, &dv);
        }
        status = sn_dist_agree(status, r->comm);
    }
    if (status == SN_OK)
        status = sn_h5_write_rows(&r->f, dn, sn_results_col_name(SN_RES_NORMALIZED), H5T_NATIVE_FLOAT,
                                  b, c, norm);
    if (status == SN_OK)
        status = sn_h5_write_rows(&r->f, dv, sn_results_col_name(SN_RES_VERDICTS), H5T_NATIVE_UINT8,
                                  b, c, ver);
    if (status == SN_OK &&
        MPI_Allreduce(MPI_IN_PLACE, &defects, 1, MPI_INT64_T, MPI_SUM, r->comm) != MPI_SUCCESS)
        status = SN_ERR(SN_EMPI, "infer: allreduce of the defect count failed");
    if (status == SN_OK)
        status = sn_results_write_verdict_attrs(&r->f, t->image, t->pixel, t->source, defects);
    if (dn >= 0)
        H5Dclose(dn);
    if (dv >= 0)
        H5Dclose(dv);
    sn_free(sc);
    sn_free(norm);
    sn_free(ver);
    if (status == SN_OK) {
        sum->thresholds = 1;
        sum->defects = defects;
        sum->image_threshold = t->image;
    }
    return status;
}

/* Repair statistics over the whole file and the completion marker (collective). */
static sn_status finish_rows(run_state *r, sn_infer_summary *sum)
{
    sn_status status = SN_OK;
    int64_t *rep = NULL;
    SN_ALLOC(rep, r->m > 0 ? r->m : 1, "repaired pixels");
    SN_TRY(sn_results_read_col(&r->f, r->d[SN_RES_REPAIRED], SN_RES_REPAIRED, 0, r->m, rep));
    for (int64_t i = 0; i < r->m; i++) {
        sum->repaired_images += rep[i] > 0;
        sum->repaired_pixels += rep[i];
        sum->repaired_most += sn_repair_is_most(rep[i], (int64_t)r->s * r->s);
    }
done:
    sn_free(rep);
    status = sn_dist_agree(status, r->comm);
    if (status != SN_OK)
        return status;
    SN_TRY(write_verdicts(r, sum));
    SN_TRY(sn_results_write_complete(&r->f, sum->repaired_images, sum->repaired_pixels,
                                     sum->repaired_most, r->size));
    /* METHOD.md's repair pastes regions of another image; over most of an image the map then
     * compares the image with a reconstruction of that other one */
    if (r->rank == 0 && sum->repaired_most > 0)
        fprintf(stderr, "sernet infer: warning: the repair replaced more than half of %lld of %lld "
                "test images (/repaired_most in %s): %s\n", (long long)sum->repaired_most,
                (long long)r->m, r->o->out, sn_repair_most_advice());
    return SN_OK;
}

/* --tile: the grid of the test images and the training tiles' dataset and index (collective). */
static sn_status setup_tiles(run_state *r)
{
    sn_status status = SN_OK;
    const sn_infer_options *o = r->o;
    const int S = sn_model_image_size(r->model);
    const char *tpath = o->train_data ? o->train_data : o->data;
    const int overlap = o->overlap == SN_TILE_OVERLAP_DEFAULT ? sn_tile_default_overlap(S) : o->overlap;
    char what[1200];
    snprintf(what, sizeof what, "%s (category '%s', test images of %d x %d; tiles of the model's %d x %d)",
             o->data, sn_dataset_category(r->ds), r->s, r->s, S, S);
    if (sn_model_separate_score(r->model))
        SN_FAIL(SN_EINVAL, "--tile: " SN_MODEL_TILE_SCORE_REFUSAL);
    /* the same on every rank: no agreement needed */
    SN_TRY(sn_tile_grid_make(r->s, r->s, S, overlap, what, &r->grid));
    r->tiled = 1;
    if (o->train_data) {
        SN_TRY(sn_dataset_open(tpath, sn_dataset_category(r->ds), r->comm, &r->train_ds));
    } else {
        r->train_ds = r->ds;
    }
    if (sn_dataset_image_size(r->train_ds) != S)
        SN_FAIL(SN_EINVAL, "%s: the training images of category '%s' are %d x %d, the model's tiles %d x "
                "%d: give the dataset the model was trained on with --train-data (its training "
                "images, at %d x %d, are the tiles' repair sources)", tpath,
                sn_dataset_category(r->train_ds), sn_dataset_image_size(r->train_ds),
                sn_dataset_image_size(r->train_ds), S, S, S, S);
    if (strcmp(sn_model_category(r->model), sn_dataset_category(r->ds)) != 0 && r->rank == 0)
        fprintf(stderr, "infer: warning: the model was trained on category '%s', the test images are "
                "'%s'\n", sn_model_category(r->model), sn_dataset_category(r->ds));
    if (r->rank == 0 && !o->quiet)
        printf("infer: tiling %d x %d test images into %d x %d = %d tiles of %d x %d (overlap >= %d); "
               "similar training tiles from %s\n", r->s, r->s, r->grid.nx, r->grid.ny,
               sn_tile_count(&r->grid), S, S, overlap, tpath);
done:
    return status;
}

static sn_status setup(run_state *r)
{
    sn_status status = SN_OK;
    const sn_infer_options *o = r->o;
    /* every rank loads the model itself; the outcome is agreed */
    status = sn_model_load(o->model, &r->model);
    if (status == SN_OK && (o->config_path || o->n_sets > 0))
        status = sn_model_override(r->model, o->config_path, o->sets, o->n_sets);
    SN_TRY(sn_dist_agree(status, r->comm));
    sn_threads_set(sn_model_config(r->model)->threads);
    if (r->rank == 0 && sn_model_calib_warning(r->model)[0])
        fprintf(stderr, "sernet infer: warning: %s: %s\n", o->model, sn_model_calib_warning(r->model));
    if (o->announce && r->rank == 0) {
        char *ini = sn_config_to_ini(sn_model_config(r->model));
        fprintf(stderr, "sernet infer: configuration (the model's%s):\n%s", o->n_sets || o->config_path ?
                " with the given overrides" : "", ini ? ini : "(out of memory)\n");
        sn_free(ini);
    }
    r->from_bundle = sn_model_is_bundle(r->model);
    const char *category = o->category;
    if (r->from_bundle) {
        /* the repair draws from the bundle's training images; the dataset gives the test split
         * of the same category */
        if (category && strcmp(category, sn_model_category(r->model)) != 0)
            status = SN_ERR(SN_EINVAL, "%s is a bundle of category '%s': it cannot score category "
                            "'%s' (--category)", o->model, sn_model_category(r->model), category);
        category = sn_model_category(r->model);
        if (status == SN_OK)
            status = sn_trainset_load_bundle(o->model, &r->bundle_train);
        SN_TRY(sn_dist_agree(status, r->comm));
    }
    SN_TRY(sn_dataset_open(o->data, category, r->comm, &r->ds));
    r->s = sn_dataset_image_size(r->ds);
    r->m = sn_dataset_count(r->ds, SN_SPLIT_TEST);
    status = SN_OK;
    if (o->tile && r->from_bundle) {
        /* the tiled rounds draw their training tiles from a dataset file */
        status = SN_ERR(SN_EINVAL, "%s is a bundle: --tile needs the model file and --train-data "
                        "(the dataset of training tiles) for now", o->model);
        goto agree;
    }
    if (o->tile) {
        status = setup_tiles(r);
        goto agree;
    }
    if (r->s != sn_model_image_size(r->model))
        status = SN_ERR(SN_EINVAL, "%s: the model was trained on %d x %d images, %s (category '%s') "
                        "holds %d x %d: ingest the data at image_size %d%s", o->model,
                        sn_model_image_size(r->model), sn_model_image_size(r->model), o->data,
                        sn_dataset_category(r->ds), r->s, r->s, sn_model_image_size(r->model),
                        r->s > sn_model_image_size(r->model) ? ", or score its larger images by "
                        "tiling (--tile, with --train-data: the dataset the model was trained on)" : "");
    else if (strcmp(sn_model_category(r->model), sn_dataset_category(r->ds)) != 0 && r->rank == 0) {
        fprintf(stderr, "infer: warning: the model was trained on category '%s', the test images are "
                "'%s'\n", sn_model_category(r->model), sn_dataset_category(r->ds));
    }
agree:
    SN_TRY(sn_dist_agree(status, r->comm));
    if (r->from_bundle) {
        r->hashes = r->bundle_train.hashes;
        r->n_hashes = r->bundle_train.n;
        r->bundle_train.hashes = NULL;
    } else {
        SN_TRY(sn_hashindex_load(r->tiled && o->train_data ? o->train_data : o->data,
                                 r->tiled ? sn_dataset_category(r->ds) : o->category, r->comm,
                                 &r->hashes, &r->n_hashes));
    }
    sn_results_data_fingerprint(r->ds, r->data_fp);
    if (r->tiled)
        train_fingerprint(r, r->train_fp);
done:
    return status;
}

sn_status sn_infer_run(const sn_infer_options *o, MPI_Comm comm, sn_infer_summary *sum)
{
    sn_status status = SN_OK;
    run_state r;
    uint8_t *done = NULL;
    int mode = 0;
    memset(&r, 0, sizeof r);
    memset(sum, 0, sizeof *sum);
    r.o = o;
    r.comm = comm;
    r.rank = sn_dist_rank(comm);
    r.size = sn_dist_size(comm);
    r.batch = o->batch;
    r.f.id = H5I_INVALID_HID;
    for (int i = 0; i < SN_RES_N_ROWS; i++)
        r.d[i] = H5I_INVALID_HID;
    if (o->batch < 1 || o->batch > 64)
        return SN_ERR(SN_EINVAL, "--batch %d: expected 1..64", o->batch);
    SN_TRY(setup(&r));
    sum->rows = r.m;
    SN_TRY(sn_dist_agree(prepare_output(&r, &mode), comm));
    if (mode == 2) {
        /* a complete file: accept it only if it is the result of these inputs */
        sn_h5file f;
        SN_TRY(sn_h5_open(&f, o->out, comm));
        r.f = f;
        status = sn_dist_agree(check_resumable(&r, o->out), comm);
        sn_h5_close(&r.f);
        SN_TRY(status);
        sum->complete = 1;
        sum->done_before = r.m;
        if (r.rank == 0 && !o->quiet)
            printf("infer: %s is already complete for this model and dataset; nothing to do\n", o->out);
        goto done;
    }
    if (mode == 1) {
        char shown[1100];
        snprintf(shown, sizeof shown, "%s.tmp", o->out);
        SN_TRY(sn_h5_resume(&r.f, o->out, comm));
        r.resumed = 1;
        status = sn_dist_agree(check_resumable(&r, shown), comm);
        if (status == SN_OK)
            status = sn_dist_agree(open_datasets(&r), comm);
        if (status != SN_OK) {
            close_datasets(&r);
            sn_h5_suspend(&r.f);
            goto done;
        }
    } else {
        status = create_file(&r);
        if (status != SN_OK) {
            close_datasets(&r);
            sn_h5_finish(&r.f, status);
            goto done;
        }
    }
    SN_ALLOC(done, r.m > 0 ? r.m : 1, "done flags");
    memset(done, 0, (size_t)(r.m > 0 ? r.m : 1));
    status = SN_OK;
    if (mode == 1)
        status = read_done(&r, done);
    status = sn_dist_agree(status, comm);
    if (status == SN_OK) {
        if (mode == 1 && r.rank == 0 && !o->quiet) {
            int64_t d = 0;
            for (int64_t i = 0; i < r.m; i++)
                d += done[i];
            printf("infer: resuming %s.tmp: %lld of %lld rows already done\n", o->out, (long long)d,
                   (long long)r.m);
        }
        status = rows_loop(&r, done, sum);
    }
    if (status == SN_OK && !sum->interrupted) {
        status = finish_rows(&r, sum);
        close_datasets(&r);
        status = sn_h5_finish(&r.f, status);
        sum->complete = status == SN_OK;
    } else {
        /* keep every finished row for --resume */
        close_datasets(&r);
        sn_h5_suspend(&r.f);
    }
    /* stage times: the slowest rank's */
    double mine[7] = {sum->t_read, sum->t_search, sum->t_seg, sum->t_repair, sum->t_rec, sum->t_map,
                      sum->t_write}, most[7];
    if (MPI_Allreduce(mine, most, 7, MPI_DOUBLE, MPI_MAX, comm) == MPI_SUCCESS) {
        sum->t_read = most[0], sum->t_search = most[1], sum->t_seg = most[2];
        sum->t_repair = most[3], sum->t_rec = most[4], sum->t_map = most[5], sum->t_write = most[6];
    }
done:
    sn_free(done);
    close_datasets(&r);
    sn_free(r.hashes);
    if (r.train_ds != r.ds)
        sn_dataset_close(r.train_ds);
    sn_trainset_free(&r.bundle_train);
    sn_dataset_close(r.ds);
    sn_model_free(r.model);
    return status;
}
