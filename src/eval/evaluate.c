/* sernet eval: read a results file and its dataset's ground truth on every rank (contiguous
 * shards), compute the metrics collectively, write the outputs on rank 0 (docs/evaluation.md). */
#include "sernet/evaluate.h"
#include "sernet/model.h"
#include "sernet/baseline.h"
#include "sernet/dist.h"
#include "sernet/results.h"
#include "report/report.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void strip_h5(const char *path, char *out, size_t cap, const char *suffix)
{
    size_t n = strlen(path);
    if (n > 3 && strcmp(path + n - 3, ".h5") == 0)
        n -= 3;
    snprintf(out, cap, "%.*s%s", (int)n, path, suffix);
}

/* The dataset's defect types fit the per-type tables. */
static sn_status check_types(const sn_report_summary *s, const sn_dataset *ds)
{
    if (sn_dataset_n_defect_types(ds) > SN_EVAL_MAX_TYPES)
        return SN_ERR(SN_EINVAL, "%s: %d defect types, at most %d supported", s->data,
                      sn_dataset_n_defect_types(ds), SN_EVAL_MAX_TYPES);
    return SN_OK;
}

/* Shard [b, b+c) of the ground truth: masks (uint8) and defect types. */
static sn_status read_truth(sn_dataset *ds, const sn_report_summary *s, int64_t b, int64_t c,
                            uint8_t *masks, int32_t *types)
{
    sn_status status = SN_OK;
    float *mf = NULL;
    int64_t *idx = NULL;
    const size_t px = (size_t)s->S * s->S;
    enum { BATCH = 32 };
    SN_ALLOC(mf, (size_t)BATCH * px + 1, "ground-truth masks");
    SN_ALLOC(idx, BATCH, "ground-truth indices");
    for (int64_t k0 = 0; k0 < c; k0 += BATCH) {
        int n = (int)SN_MIN((int64_t)BATCH, c - k0);
        for (int j = 0; j < n; j++)
            idx[j] = b + k0 + j;
        SN_TRY(sn_dataset_read(ds, SN_SPLIT_TEST, idx, n, NULL, mf, NULL));
        for (size_t i = 0; i < (size_t)n * px; i++)
            masks[(size_t)k0 * px + i] = mf[i] > 0.5f;
        for (int j = 0; j < n; j++)
            types[k0 + j] = sn_dataset_defect(ds, b + k0 + j);
    }
done:
    sn_free(mf);
    sn_free(idx);
    return status;
}

/* Shard [b, b+c): scores, maps, masks (uint8), types. */
static sn_status read_shard(sn_h5file *rf, sn_dataset *ds, const sn_report_summary *s, int64_t b,
                            int64_t c, float *scores, float *maps, uint8_t *masks, int32_t *types)
{
    sn_status status = SN_OK;
    hid_t dsc = H5I_INVALID_HID, dmp = H5I_INVALID_HID, ddn = H5I_INVALID_HID;
    uint8_t *done_rows = NULL;
    SN_TRY(sn_results_open_col(rf, SN_RES_SCORES, s->M, s->S, &dsc));
    SN_TRY(sn_results_open_col(rf, SN_RES_MAPS, s->M, s->S, &dmp));
    SN_TRY(sn_results_read_col(rf, dsc, SN_RES_SCORES, b, c, scores));
    SN_TRY(sn_results_read_col(rf, dmp, SN_RES_MAPS, b, c, maps));
    if (c > 0) { /* per-row flags: every row of a complete file is 1 */
        SN_TRY(sn_results_open_col(rf, SN_RES_DONE, s->M, s->S, &ddn));
        SN_ALLOC(done_rows, c, "done flags");
        SN_TRY(sn_results_read_col(rf, ddn, SN_RES_DONE, b, c, done_rows));
        for (int64_t k = 0; k < c; k++)
            if (done_rows[k] != 1)
                SN_FAIL(SN_EFORMAT, "%s: row %lld (test image %s) is not done (/done = %d) although "
                        "the file is marked complete", s->results, (long long)(b + k),
                        sn_dataset_name(ds, SN_SPLIT_TEST, b + k), done_rows[k]);
    }
    SN_TRY(read_truth(ds, s, b, c, masks, types));
done:
    if (dsc >= 0)
        H5Dclose(dsc);
    if (dmp >= 0)
        H5Dclose(dmp);
    if (ddn >= 0)
        H5Dclose(ddn);
    sn_free(done_rows);
    return status;
}

/* Replace this rank's scores and maps by a baseline's (src/include/sernet/baseline.h). Collective. */
static sn_status apply_baseline(MPI_Comm comm, int kind, const sn_config *cfg, sn_dataset *ds,
                                const sn_report_summary *s, int64_t b, int64_t c, float *scores,
                                float *maps, const int32_t *types)
{
    sn_status status = SN_OK, st = SN_OK;
    const size_t px = (size_t)s->S * s->S;
    float *img = NULL;
    double *sum = NULL;
    if (kind == SN_BASELINE_SOBEL) {
        img = sn_alloc(sizeof(float) * 3 * px, "baseline image");
        st = img ? SN_OK : SN_ENOMEM;
        for (int64_t k = 0; k < c && st == SN_OK; k++) {
            int64_t i = b + k;
            st = sn_dataset_read(ds, SN_SPLIT_TEST, &i, 1, img, NULL, NULL);
            if (st == SN_OK)
                st = sn_baseline_sobel(img, s->S, cfg->box_size, maps + (size_t)k * px, &scores[k]);
        }
        SN_TRY(sn_dist_agree(st, comm));
    } else if (kind == SN_BASELINE_FIXED) {
        double n = 0;
        sum = sn_alloc(sizeof(double) * (px + 1), "baseline mean map");
        st = sum ? SN_OK : SN_ENOMEM;
        SN_TRY(sn_dist_agree(st, comm));
        memset(sum, 0, sizeof(double) * (px + 1));
        for (int64_t k = 0; k < c; k++) {
            if (types[k] != 0)
                continue;
            for (size_t p = 0; p < px; p++)
                sum[p] += maps[(size_t)k * px + p];
            n += 1;
        }
        sum[px] = n; /* the count travels with the sums */
        if (MPI_Allreduce(MPI_IN_PLACE, sum, (int)(px + 1), MPI_DOUBLE, MPI_SUM, comm) != MPI_SUCCESS)
            SN_FAIL(SN_EMPI, "eval: MPI_Allreduce of the baseline mean map failed");
        if (sum[px] < 1)
            SN_FAIL(SN_EINVAL, "%s: category %s has no good test images; the fixed baseline is "
                    "their mean map", s->data, s->category);
        float mx = -INFINITY;
        for (size_t p = 0; p < px && c > 0; p++) {
            maps[p] = (float)(sum[p] / sum[px]);
            mx = maps[p] > mx ? maps[p] : mx;
        }
        for (int64_t k = 0; k < c; k++) {
            if (k > 0)
                memcpy(maps + (size_t)k * px, maps, sizeof(float) * px);
            scores[k] = mx;
        }
    }
done:
    sn_free(img);
    sn_free(sum);
    return status;
}

/* The metrics of the local images whose type passes `keep` (all when keep < 0: every image;
 * else type 0 or type keep). Collective. */
static sn_status compute_subset(MPI_Comm comm, const sn_report_summary *s, const sn_config *cfg,
                                int64_t b, int64_t c, const float *scores, const float *maps,
                                const uint8_t *masks, const int32_t *types, int keep,
                                sn_eval_result *res)
{
    sn_status status = SN_OK, st = SN_OK;
    sn_eval_set *set = NULL;
    const size_t px = (size_t)s->S * s->S;
    st = sn_eval_set_create(&set);
    int64_t n = 0;
    for (int64_t k = 0; k < c; k++)
        n += keep < 0 || types[k] == 0 || types[k] == keep;
    if (st == SN_OK)
        st = sn_eval_set_reserve(set, n, n * (int64_t)px);
    SN_TRY(sn_dist_agree(st, comm));
    for (int64_t k = 0; k < c; k++) {
        if (!(keep < 0 || types[k] == 0 || types[k] == keep))
            continue;
        /* a failed add marks the set; sn_eval_compute then fails on every rank */
        (void)sn_eval_set_add(set, b + k, NULL, types[k], scores[k], maps + (size_t)k * px, s->S, s->S,
                              masks + (size_t)k * px, s->S, s->S);
    }
    sn_eval_opts o;
    sn_eval_opts_from_config(cfg, &o);
    SN_TRY(sn_eval_compute(set, comm, &o, res));
done:
    sn_eval_set_free(set);
    return status;
}

static int cmp_fp(const void *a, const void *b)
{
    const sn_report_image *x = *(const sn_report_image *const *)a, *y = *(const sn_report_image *const *)b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1; /* highest first */
    return x->index < y->index ? -1 : x->index > y->index;
}

static int cmp_fn(const void *a, const void *b)
{
    const sn_report_image *x = *(const sn_report_image *const *)a, *y = *(const sn_report_image *const *)b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1; /* lowest first */
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Rank 0: the K good images with the highest scores and the K defective with the lowest. */
static sn_status pick_worst(sn_report_summary *s, int K)
{
    sn_status status = SN_OK;
    const sn_report_image **v = NULL;
    SN_ALLOC(v, s->M + 1, "worst images");
    SN_ALLOC(s->fp, K + 1, "worst images");
    SN_ALLOC(s->fn, K + 1, "worst images");
    for (int pass = 0; pass < 2; pass++) {
        int64_t n = 0;
        for (int64_t i = 0; i < s->M; i++)
            if (s->img[i].label == pass)
                v[n++] = &s->img[i];
        qsort(v, (size_t)n, sizeof *v, pass == 0 ? cmp_fp : cmp_fn);
        int k = (int)SN_MIN((int64_t)K, n);
        for (int j = 0; j < k; j++)
            (pass == 0 ? s->fp : s->fn)[j] = v[j]->index;
        if (pass == 0)
            s->n_fp = k;
        else
            s->n_fn = k;
    }
done:
    sn_free(v);
    return status;
}

static sn_status gather_images(MPI_Comm comm, int rank, int nranks, sn_report_summary *s, int64_t b,
                               int64_t c, const float *scores, const uint8_t *masks,
                               const int32_t *types)
{
    sn_status status = SN_OK, st = SN_OK;
    sn_report_image *loc = NULL;
    int *counts = NULL, *displs = NULL;
    const size_t px = (size_t)s->S * s->S;
    loc = malloc(sizeof *loc * (size_t)(c + 1));
    counts = malloc(sizeof(int) * (size_t)nranks);
    displs = malloc(sizeof(int) * (size_t)nranks);
    if (rank == 0)
        s->img = malloc(sizeof *s->img * (size_t)(s->M + 1));
    if (!loc || !counts || !displs || (rank == 0 && !s->img))
        st = SN_ERR(SN_ENOMEM, "eval: no memory for %lld image records", (long long)s->M);
    if (s->M > INT_MAX / (int)sizeof(sn_report_image))
        st = SN_ERR(SN_EINVAL, "eval: %lld test images is more than supported", (long long)s->M);
    SN_TRY(sn_dist_agree(st, comm));
    for (int64_t k = 0; k < c; k++) {
        int lab = 0;
        for (size_t i = 0; i < px && !lab; i++)
            lab = masks[(size_t)k * px + i] != 0;
        sn_report_image r = {b + k, scores[k], types[k], lab};
        loc[k] = r;
    }
    int mine = (int)(c * (int64_t)sizeof(sn_report_image));
    if (MPI_Gather(&mine, 1, MPI_INT, counts, 1, MPI_INT, 0, comm) != MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "eval: MPI_Gather of the image counts failed");
    if (rank == 0) {
        int off = 0;
        for (int r = 0; r < nranks; r++) {
            displs[r] = off;
            off += counts[r];
        }
    }
    if (MPI_Gatherv(loc, mine, MPI_BYTE, s->img, counts, displs, MPI_BYTE, 0, comm) != MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "eval: MPI_Gatherv of the image scores failed");
done:
    free(loc);
    free(counts);
    free(displs);
    return status;
}

/* Rank 0: bootstrap intervals of the image AUROC, overall (label: the mask has a defect pixel, as
 * the metric) and per type (that type's images against the good ones), from all images in index
 * order, so an interval does not depend on the number of ranks. Stream 0 is the overall
 * interval's, stream t type t's. */
static sn_status image_intervals(sn_report_summary *s, const sn_config *cfg)
{
    sn_status status = SN_OK;
    float *sc = NULL;
    uint8_t *lb = NULL;
    const uint64_t seed = (uint64_t)cfg->seed;
    s->ci_resamples = cfg->eval_bootstrap;
    s->ci_level = cfg->eval_ci_level;
    s->image_auroc_ci[0] = s->image_auroc_ci[1] = NAN;
    for (int t = 0; t < SN_EVAL_MAX_TYPES; t++)
        s->type_image_auroc_ci[t][0] = s->type_image_auroc_ci[t][1] = NAN;
    SN_ALLOC(sc, s->M + 1, "eval image AUROC interval");
    SN_ALLOC(lb, s->M + 1, "eval image AUROC interval");
    for (int64_t i = 0; i < s->M; i++) {
        sc[i] = s->img[i].score;
        lb[i] = s->img[i].label != 0;
    }
    SN_TRY(sn_metric_auroc_ci(sc, lb, s->M, s->ci_resamples, s->ci_level, seed, 0, s->image_auroc_ci));
    for (int t = 1; t < s->n_types; t++) {
        int64_t k = 0;
        for (int64_t i = 0; i < s->M; i++)
            if (s->img[i].type == 0 || s->img[i].type == t) {
                sc[k] = s->img[i].score;
                lb[k++] = s->img[i].type == t;
            }
        SN_TRY(sn_metric_auroc_ci(sc, lb, k, s->ci_resamples, s->ci_level, seed, (uint32_t)t,
                                  s->type_image_auroc_ci[t]));
    }
done:
    sn_free(sc);
    sn_free(lb);
    return status;
}

/* The F1-optimal thresholds into the model file. eval's thresholds predict "score >= t"; a
 * model's verdict is "score > threshold", so the value stored is the next double below t, which
 * picks the same float scores. */
static sn_status store_thresholds(const sn_report_summary *s, const char *results_fp, const char *path)
{
    sn_status status = SN_OK;
    sn_model *m = NULL;
    sn_thresholds t;
    memset(&t, 0, sizeof t);
    if (!path[0])
        path = s->model;
    if (!path[0])
        SN_FAIL(SN_EINVAL, "%s: names no model file: give --store-thresholds MODEL.h5", s->results);
    if (!s->res.f1.f1.defined || !(s->res.f1.threshold > 0))
        SN_FAIL(SN_EINVAL, "%s: no F1-optimal image threshold > 0 (the test set needs good and "
                "defective images): thresholds not stored", s->results);
    SN_TRY(sn_model_load(path, &m));
    if (strcmp(sn_model_fingerprint(m), results_fp) != 0)
        SN_FAIL(SN_EINVAL, "%s: model fingerprint %s, but %s was made with %s: thresholds not stored",
                path, sn_model_fingerprint(m), s->results, results_fp);
    t.set = 1;
    t.image = nextafter(s->res.f1.threshold, 0.0);
    t.pixel = s->cv.pixel_f1.defined && s->cv.pixel_threshold > 0 ? nextafter(s->cv.pixel_threshold, 0.0) : 0;
    snprintf(t.fingerprint, sizeof t.fingerprint, "%s", sn_model_fingerprint(m));
    snprintf(t.source, sizeof t.source, "eval F1-optimal on %s (category %s, %lld test images)",
             s->data, s->category, (long long)s->M);
    SN_TRY(sn_model_store_thresholds(path, &t));
    printf("thresholds: %s: image %.9g (F1 %.4f), pixel %.9g (stored)\n", path, t.image,
           s->res.f1.f1.value, t.pixel);
done:
    sn_model_free(m);
    return status;
}

sn_status sn_evaluate_run(const sn_config *cfg, const sn_evaluate_options *o, MPI_Comm comm)
{
    sn_status status = SN_OK, st = SN_OK;
    sn_h5file rf = {.id = H5I_INVALID_HID};
    sn_dataset *ds = NULL;
    sn_report_summary *s = NULL;
    float *scores = NULL, *maps = NULL;
    uint8_t *masks = NULL;
    int32_t *types = NULL;
    char json[1100], report[1100], label[1200], rf_fingerprint[64] = "";
    const int baseline = o->baseline != SN_BASELINE_NONE;
    const int rank = sn_dist_rank(comm), nranks = sn_dist_size(comm);

    s = calloc(1, sizeof *s);
    if (!s)
        st = SN_ERR(SN_ENOMEM, "eval: no memory");
    SN_TRY(sn_dist_agree(st, comm));
    s->results = o->results;
    s->data = o->data;
    /* the CLI tells the user; here a missing file is a caller's bug */
    SN_ASSERT(o->data && (o->results || o->baseline == SN_BASELINE_SOBEL));
    json[0] = report[0] = 0;
    if (o->json)
        snprintf(json, sizeof json, "%s", o->json);
    else if (!baseline)
        strip_h5(o->results, json, sizeof json, "_metrics.json");
    if (o->report)
        snprintf(report, sizeof report, "%s", o->report);
    else if (!baseline)
        strip_h5(o->results, report, sizeof report, "_report");
    s->json = json;
    s->report = report;

    if (o->results) {
        sn_results_header h;
        /* the category first (to open the dataset with), then the full check against it and
         * every rank the row checksums of its shard */
        SN_TRY(sn_results_identify(o->results, comm, &h));
        snprintf(s->category, sizeof s->category, "%s", h.category);
        snprintf(s->model, sizeof s->model, "%s", h.model);
        s->S = h.s;
        s->M = h.m;
        SN_TRY(sn_dataset_open(o->data, s->category, comm, &ds));
        SN_TRY(sn_results_open(&rf, o->results, ds, comm));
        SN_TRY(check_types(s, ds));
        if (o->store_thresholds)
            snprintf(rf_fingerprint, sizeof rf_fingerprint, "%s", h.model_fingerprint);
    } else { /* a baseline that needs no results file */
        SN_TRY(sn_dataset_open(o->data, o->category, comm, &ds));
        snprintf(s->category, sizeof s->category, "%s", sn_dataset_category(ds));
        s->S = sn_dataset_image_size(ds);
        s->M = sn_dataset_count(ds, SN_SPLIT_TEST);
    }
    s->ds = ds;
    if (baseline) {
        snprintf(label, sizeof label, "baseline %s (no network) on %s", sn_baseline_name(o->baseline),
                 o->results ? o->results : o->data);
        s->results = label;
    }

    int64_t b = 0, c = 0;
    const size_t px = (size_t)s->S * s->S;
    sn_dist_shard(s->M, rank, nranks, &b, &c);
    scores = sn_alloc(sizeof(float) * (size_t)(c + 1), "eval scores");
    maps = sn_alloc(sizeof(float) * ((size_t)c * px + 1), "eval anomaly maps");
    masks = sn_alloc((size_t)c * px + 1, "eval ground-truth masks");
    types = sn_alloc(sizeof(int32_t) * (size_t)(c + 1), "eval defect types");
    st = (scores && maps && masks && types) ? SN_OK : SN_ENOMEM;
    if (st == SN_OK)
        st = o->results ? read_shard(&rf, ds, s, b, c, scores, maps, masks, types)
                        : read_truth(ds, s, b, c, masks, types);
    SN_TRY(sn_dist_agree(st, comm));
    SN_TRY(apply_baseline(comm, o->baseline, cfg, ds, s, b, c, scores, maps, types));

    /* overall, then each defect type with the good images */
    SN_TRY(compute_subset(comm, s, cfg, b, c, scores, maps, masks, types, -1, &s->res));
    s->n_types = sn_dataset_n_defect_types(ds);
    for (int t = 0; t < s->n_types; t++) {
        snprintf(s->type_names[t], sizeof s->type_names[t], "%s", sn_dataset_defect_type(ds, t));
        s->type_images[t] = t < s->res.n_types ? s->res.type_images[t] : 0;
        s->type_image_auroc[t] = s->res.type_auroc[t];
        s->type_pixel_auroc[t].value = s->type_aupro[t].value = NAN;
        s->type_pixel_auroc[t].defined = s->type_aupro[t].defined = 0;
        if (t == 0 || s->type_images[t] == 0)
            continue;
        sn_eval_result r;
        SN_TRY(compute_subset(comm, s, cfg, b, c, scores, maps, masks, types, t, &r));
        s->type_pixel_auroc[t] = r.pixel_auroc;
        s->type_aupro[t] = r.aupro;
    }
    SN_TRY(sn_eval_curves_compute(comm, c, s->S, s->S, maps, masks, cfg->eval_bins,
                                  cfg->aupro_max_fpr, &s->cv));
    SN_TRY(gather_images(comm, rank, nranks, s, b, c, scores, masks, types));
    sn_free(maps);
    sn_free(masks);
    maps = NULL;
    masks = NULL;

    /* rank 0: table, JSON, report (panels read rows of the still open files) */
    st = SN_OK;
    if (rank == 0) {
        for (int64_t i = 0; i < s->M; i++)
            s->unlabelled_defects += s->img[i].type != 0 && !s->img[i].label;
        s->worst = o->worst;
        st = image_intervals(s, cfg);
        if (st == SN_OK)
            st = pick_worst(s, o->worst);
        if (st == SN_OK) {
            sn_report_print_table(s, stdout);
            fflush(stdout);
            if (json[0])
                st = sn_report_write_json(s, json);
        }
        /* a baseline's report would show SeRNet's panels next to the baseline's numbers */
        if (st == SN_OK && !baseline)
            st = sn_report_write_markdown(s, report, &rf, ds);
    }
    SN_TRY(sn_dist_agree(st, comm));
    sn_h5_close(&rf);
    sn_dataset_close(ds);
    ds = NULL;
    /* every rank has closed the results file: rank 0 adds /metrics by copy and rename */
    st = SN_OK;
    if (rank == 0 && !o->no_write_results && !baseline)
        st = sn_report_write_metrics_h5(s, o->results);
    SN_TRY(sn_dist_agree(st, comm));
    st = SN_OK;
    if (rank == 0 && o->store_thresholds && !baseline)
        st = store_thresholds(s, &rf_fingerprint[0], o->store_thresholds);
    SN_TRY(sn_dist_agree(st, comm));
    if (rank == 0) {
        if (json[0])
            printf("\nmetrics: %s\n", json);
        if (!baseline)
            printf("report:  %s/report.md\n", report);
        if (!o->no_write_results && !baseline)
            printf("results: %s (group /metrics)\n", o->results);
        fflush(stdout);
    }
done:
    sn_h5_close(&rf);
    sn_dataset_close(ds);
    sn_free(scores);
    sn_free(maps);
    sn_free(masks);
    sn_free(types);
    if (s) {
        sn_eval_curves_free(&s->cv);
        free(s->img);
        sn_free(s->fp);
        sn_free(s->fn);
        free(s);
    }
    return status;
}
