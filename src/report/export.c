/* sernet export: panels of every selected test image, rendered by the rank that owns the image
 * (contiguous shards of the selection), and a Markdown index written by rank 0. */
#define _GNU_SOURCE
#include "sernet/export.h"

#include "sernet/dataset.h"
#include "sernet/dist.h"
#include "sernet/fsutil.h"
#include "sernet/h5util.h"
#include "sernet/panel.h"
#include "sernet/results.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


sn_status sn_export_panel_name(const char *item_name, char *out, size_t len)
{
    sn_status status = SN_OK;
    SN_ASSERT(item_name && out && len > 0);
    out[0] = '\0';
    size_t n = strlen(item_name);
    if (n == 0 || item_name[0] == '/' || item_name[n - 1] == '/')
        SN_FAIL(SN_EFORMAT, "item name '%s' is empty, absolute or ends in '/'", item_name);
    /* every component must be non-empty and not "." or ".." */
    for (const char *c = item_name; *c;) {
        const char *e = strchr(c, '/');
        size_t cl = e ? (size_t)(e - c) : strlen(c);
        if (cl == 0 || (cl == 1 && c[0] == '.') || (cl == 2 && c[0] == '.' && c[1] == '.'))
            SN_FAIL(SN_EFORMAT, "item name '%s' has an empty, '.' or '..' component", item_name);
        c += cl;
        if (*c == '/')
            c++;
    }
    const char *slash = strrchr(item_name, '/');
    const char *base = slash ? slash + 1 : item_name;
    const char *dot = strrchr(base, '.');
    size_t keep = (dot && dot > base) ? (size_t)(dot - item_name) : n;
    int w = snprintf(out, len, "%.*s.png", (int)keep, item_name);
    if (w < 0 || (size_t)w >= len)
        SN_FAIL(SN_EINVAL, "item name '%s': panel name too long", item_name);
done:
    return status;
}

typedef struct {
    char *category;
    int64_t S, M;
    hid_t scores, maps, recon, repair;
} results_meta;

typedef struct {
    int64_t idx;
    float score;
} ranked;

static int by_score_desc(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Markdown text with the table separator escaped. */
static void md_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
}

static sn_status write_index(const sn_export_options *o, sn_dataset *ds, const results_meta *m,
                             const int64_t *sel, int64_t nsel, const float *scores,
                             const sn_export_summary *sum, char **panel_names, const char *path)
{
    sn_status status = SN_OK;
    sn_afile af = {0};
    ranked *r = NULL;
    SN_ALLOC(r, nsel > 0 ? nsel : 1, "export index rows");
    for (int64_t i = 0; i < nsel; i++)
        r[i] = (ranked){sel[i], scores[sel[i]]};
    qsort(r, (size_t)nsel, sizeof *r, by_score_desc);
    SN_TRY(sn_afile_open(&af, path));
    FILE *f = af.fp;
    fprintf(f, "# Panels: category %s\n\n", m->category);
    fprintf(f, "- results: `%s`\n- data: `%s`\n", o->results, o->data);
    fprintf(f, "- tiles, left to right: image | ground truth | anomaly map (heat) | predicted mask | "
               "reconstruction\n");
    fprintf(f, "- heat map: jet colour map, full heat at %.6g (the largest image score of the test set)\n",
            (double)sum->map_max);
    if (sum->tsource == SN_EXPORT_T_REPAIR)
        fprintf(f, "- predicted mask: the repair masks of the results file (no pixel threshold known)\n");
    else
        fprintf(f, "- predicted mask: anomaly map >= %.6g (%s)\n", sum->threshold,
                sum->tsource == SN_EXPORT_T_OPTION ? "--threshold" : "/metrics pixel_threshold of the results file");
    fprintf(f, "- panels: %lld of %lld test images%s, sorted by score (highest first)\n\n",
            (long long)nsel, (long long)m->M,
            o->only == SN_EXPORT_GOOD ? " (good only)" : o->only == SN_EXPORT_DEFECTIVE ? " (defective only)" : "");
    fprintf(f, "| # | panel | label | defect type | score |\n|---:|---|---|---|---:|\n");
    for (int64_t i = 0; i < nsel; i++) {
        int64_t idx = r[i].idx;
        const char *pn = panel_names[idx];
        fprintf(f, "| %lld | [", (long long)(i + 1));
        md_text(f, pn);
        fprintf(f, "](<%s>) | %s | ", pn, sn_dataset_label(ds, idx) ? "defective" : "good");
        md_text(f, sn_dataset_defect_type(ds, sn_dataset_defect(ds, idx)));
        fprintf(f, " | %.6f |\n", (double)r[i].score);
    }
    SN_TRY(sn_afile_commit(&af));
done:
    sn_afile_discard(&af);
    sn_free(r);
    return status;
}

/* Render this rank's panels: items sel[begin .. begin + count). */
static sn_status render_shard(const sn_export_options *o, sn_h5file *rf, sn_dataset *ds,
                              const results_meta *m, const int64_t *sel, int64_t begin,
                              int64_t count, const sn_export_summary *sum, char **panel_names,
                              int64_t *written)
{
    sn_status status = SN_OK;
    int64_t S = m->S;
    size_t np = (size_t)(S * S);
    uint8_t *raw = NULL, *gt = NULL, *pred = NULL, *recon = NULL;
    float *maskf = NULL, *map = NULL;
    char path[2048], dir[2048];
    SN_ALLOC(raw, np * 3, "export image");
    SN_ALLOC(recon, np * 3, "export reconstruction");
    SN_ALLOC(gt, np, "export truth");
    SN_ALLOC(pred, np, "export prediction");
    SN_ALLOC(maskf, np, "export mask");
    SN_ALLOC(map, np, "export map");
    for (int64_t k = 0; k < count; k++) {
        int64_t idx = sel[begin + k];
        int w = snprintf(path, sizeof path, "%s/%s", o->out, panel_names[idx]);
        if (w < 0 || (size_t)w >= sizeof path)
            SN_FAIL(SN_EINVAL, "%s/%s: path too long", o->out, panel_names[idx]);
        memcpy(dir, path, (size_t)w + 1);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
            SN_TRY(sn_mkdirs(dir));
        }
        SN_TRY(sn_dataset_read(ds, SN_SPLIT_TEST, &idx, 1, NULL, maskf, raw));
        SN_TRY(sn_results_read_col(rf, m->maps, SN_RES_MAPS, idx, 1, map));
        SN_TRY(sn_results_read_col(rf, m->recon, SN_RES_RECON, idx, 1, recon));
        /* truth: the mask where one exists; a good image's truth is the empty mask; a defective
         * image without a mask gets a NONE tile */
        int has_gt = sn_dataset_has_mask(ds, idx) || sn_dataset_label(ds, idx) == 0;
        for (size_t i = 0; i < np; i++)
            gt[i] = maskf[i] >= 0.5f;
        if (sum->tsource == SN_EXPORT_T_REPAIR) {
            SN_TRY(sn_results_read_col(rf, m->repair, SN_RES_REPAIR, idx, 1, pred));
            for (size_t i = 0; i < np; i++)
                pred[i] = pred[i] != 0;
        } else {
            for (size_t i = 0; i < np; i++)
                pred[i] = (double)map[i] >= sum->threshold;
        }
        SN_TRY(sn_panel_write(path, (int)S, raw, has_gt ? gt : NULL, map, sum->map_max, pred, recon));
        (*written)++;
    }
done:
    sn_free(raw);
    sn_free(recon);
    sn_free(gt);
    sn_free(pred);
    sn_free(maskf);
    sn_free(map);
    return status;
}

sn_status sn_export_run(const sn_export_options *o, MPI_Comm comm, sn_export_summary *sum)
{
    sn_status status = SN_OK, local = SN_OK;
    sn_h5file rf = {.id = H5I_INVALID_HID};
    sn_dataset *ds = NULL;
    results_meta m = {.scores = H5I_INVALID_HID, .maps = H5I_INVALID_HID, .recon = H5I_INVALID_HID,
                      .repair = H5I_INVALID_HID};
    float *scores = NULL;
    int64_t *sel = NULL;
    char **panel_names = NULL, **sorted = NULL;
    int64_t n_names = 0;
    SN_ASSERT(o && o->results && o->data && o->out && sum);
    memset(sum, 0, sizeof *sum);
    int rank = sn_dist_rank(comm), size = sn_dist_size(comm);

    /* 1. the results file: readable, a sernet results file, for which category */
    {
        sn_results_header h;
        SN_TRY(sn_results_identify(o->results, comm, &h));
        if (!(m.category = strdup(h.category)))
            local = SN_ERR(SN_ENOMEM, "export: category name");
        SN_TRY(sn_dist_agree(local, comm));
    }

    /* 2. the dataset (the category must exist in it); then the full check of the results file
     * against it: version, complete, image size, test count, data fingerprint */
    SN_TRY(sn_dataset_open(o->data, m.category, comm, &ds));
    SN_TRY(sn_results_open(&rf, o->results, ds, comm));
    m.S = sn_dataset_image_size(ds);
    m.M = sn_dataset_count(ds, SN_SPLIT_TEST);
    if (m.S > SN_PANEL_MAX_S)
        local = SN_ERR(SN_EINVAL, "%s: image size %lld is larger than panels allow (%d)", o->data,
                       (long long)m.S, SN_PANEL_MAX_S);
    SN_TRY(sn_dist_agree(local, comm));

    /* 3. the datasets of the results file, the scores, the threshold */
    {
        const int S = (int)m.S;
        local = sn_results_open_col(&rf, SN_RES_SCORES, m.M, S, &m.scores);
        if (local == SN_OK)
            local = sn_results_open_col(&rf, SN_RES_MAPS, m.M, S, &m.maps);
        if (local == SN_OK)
            local = sn_results_open_col(&rf, SN_RES_RECON, m.M, S, &m.recon);
        if (local == SN_OK) {
            scores = sn_alloc((size_t)(m.M > 0 ? m.M : 1) * sizeof *scores, "export scores");
            local = scores ? sn_results_read_col(&rf, m.scores, SN_RES_SCORES, 0, m.M, scores)
                           : SN_ENOMEM;
        }
        if (local == SN_OK) {
            float mx = 0.0f;
            for (int64_t i = 0; i < m.M && local == SN_OK; i++) {
                if (!isfinite(scores[i]))
                    local = SN_ERR(SN_EFORMAT, "%s: %s[%lld] is not finite", o->results,
                                   sn_results_col_name(SN_RES_SCORES), (long long)i);
                else if (scores[i] > mx)
                    mx = scores[i];
            }
            sum->map_max = mx;
        }
        if (local == SN_OK) {
            if (o->has_threshold) {
                sum->tsource = SN_EXPORT_T_OPTION;
                sum->threshold = o->threshold;
            } else if (sn_h5_attr_exists(&rf, SN_RESULTS_METRICS, "pixel_threshold")) {
                sum->tsource = SN_EXPORT_T_METRICS;
                local = sn_h5_attr_get_double(&rf, SN_RESULTS_METRICS, "pixel_threshold", &sum->threshold);
                if (local == SN_OK && !isfinite(sum->threshold))
                    local = SN_ERR(SN_EFORMAT, "%s: %s pixel_threshold is not finite", o->results,
                                   SN_RESULTS_METRICS);
            } else {
                sum->tsource = SN_EXPORT_T_REPAIR;
                sum->threshold = NAN;
                local = sn_results_open_col(&rf, SN_RES_REPAIR, m.M, S, &m.repair);
            }
        }
        H5Eclear2(H5E_DEFAULT);
    }
    /* panel names of every test image (the index needs them all), no two the same */
    if (local == SN_OK) {
        panel_names = calloc((size_t)(m.M > 0 ? m.M : 1), sizeof *panel_names);
        sorted = calloc((size_t)(m.M > 0 ? m.M : 1), sizeof *sorted);
        if (!panel_names || !sorted)
            local = SN_ERR(SN_ENOMEM, "export: panel names");
    }
    for (int64_t i = 0; i < m.M && local == SN_OK; i++) {
        char buf[1024];
        const char *nm = sn_dataset_name(ds, SN_SPLIT_TEST, i);
        local = sn_export_panel_name(nm, buf, sizeof buf);
        if (local != SN_OK) {
            char msg[1200];
            snprintf(msg, sizeof msg, "%s", sn_err_msg());
            sn_err_clear();
            local = SN_ERR(local, "%s: test image %lld: %s", o->data, (long long)i, msg);
            break;
        }
        panel_names[i] = strdup(buf);
        if (!panel_names[i])
            local = SN_ERR(SN_ENOMEM, "export: panel names");
        else
            sorted[n_names++] = panel_names[i];
    }
    if (local == SN_OK) {
        qsort(sorted, (size_t)n_names, sizeof *sorted, by_string);
        for (int64_t i = 1; i < n_names && local == SN_OK; i++)
            if (strcmp(sorted[i - 1], sorted[i]) == 0)
                local = SN_ERR(SN_EFORMAT, "%s: two test images would both be exported as %s", o->data,
                               sorted[i]);
    }
    SN_TRY(sn_dist_agree(local, comm));
    if (rank == 0 && !o->quiet && sum->tsource == SN_EXPORT_T_REPAIR)
        fprintf(stderr, "sernet export: note: %s has no /metrics pixel_threshold (run sernet eval, or "
                "give --threshold): the predicted-mask tiles show the repair masks\n", o->results);

    /* 4. the selection, in dataset order */
    sel = sn_alloc((size_t)(m.M > 0 ? m.M : 1) * sizeof *sel, "export selection");
    SN_TRY(sn_dist_agree(sel ? SN_OK : SN_ENOMEM, comm));
    int64_t nsel = 0;
    for (int64_t i = 0; i < m.M; i++) {
        int label = sn_dataset_label(ds, i);
        if ((o->only == SN_EXPORT_GOOD && label != 0) || (o->only == SN_EXPORT_DEFECTIVE && label == 0))
            continue;
        if (o->limit > 0 && nsel >= o->limit)
            break;
        sel[nsel++] = i;
    }
    sum->n_selected = nsel;

    /* 5. the output folder (rank 0), then every rank its shard */
    SN_TRY(sn_dist_agree(rank == 0 ? sn_mkdirs(o->out) : SN_OK, comm));
    int64_t begin = 0, count = 0, written = 0;
    sn_dist_shard(nsel, rank, size, &begin, &count);
    local = render_shard(o, &rf, ds, &m, sel, begin, count, sum, panel_names, &written);
    SN_TRY(sn_dist_agree(local, comm));
    if (MPI_Allreduce(&written, &sum->n_written, 1, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "export: MPI_Allreduce of the panel count failed");

    /* 6. the index */
    int w = snprintf(sum->index_path, sizeof sum->index_path, "%s/index.md", o->out);
    local = (w < 0 || (size_t)w >= sizeof sum->index_path) ? SN_ERR(SN_EINVAL, "%s: path too long", o->out)
                                                             : SN_OK;
    if (local == SN_OK && rank == 0)
        local = write_index(o, ds, &m, sel, nsel, scores, sum, panel_names, sum->index_path);
    SN_TRY(sn_dist_agree(local, comm));
done:
    if (m.scores >= 0)
        H5Dclose(m.scores);
    if (m.maps >= 0)
        H5Dclose(m.maps);
    if (m.recon >= 0)
        H5Dclose(m.recon);
    if (m.repair >= 0)
        H5Dclose(m.repair);
    sn_h5_close(&rf);
    sn_dataset_close(ds);
    if (panel_names)
        for (int64_t i = 0; i < m.M; i++)
            free(panel_names[i]);
    free(panel_names);
    free(sorted);
    free(m.category);
    sn_free(scores);
    sn_free(sel);
    return status;
}
