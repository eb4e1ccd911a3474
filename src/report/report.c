/* Outputs of `sernet eval` on rank 0: the table, the JSON file (built with cJSON), the report
 * folder (Markdown, SVG curves drawn by sernet/plot.h, PNG panels) and the /metrics group of the
 * results file. Every file is written under a temporary name and renamed into place
 * (sernet/fsutil.h). */
#include "report/report.h"
#include "sernet/evaluate.h"
#include "sernet/fsutil.h"
#include "sernet/panel.h"
#include "sernet/plot.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ table ------------- */

static void fmt_metric(char *buf, size_t cap, sn_metric m)
{
    if (m.defined)
        snprintf(buf, cap, "%.6f", m.value);
    else
        snprintf(buf, cap, "n/a");
}

static void row(FILE *f, const char *name, sn_metric m, const char *note)
{
    char v[32];
    fmt_metric(v, sizeof v, m);
    fprintf(f, "  %-24s %10s%s%s\n", name, v, note && note[0] ? "  " : "", note ? note : "");
}

static const char *bound_note(char *buf, size_t cap, int binned, double bound)
{
    if (binned && isfinite(bound))
        snprintf(buf, cap, "(binned, |error| <= %.2g)", bound);
    else
        buf[0] = '\0';
    return buf;
}

/* "0.952-0.996", or "-" when the interval is undefined. */
static const char *fmt_interval(char *buf, size_t cap, const double ci[2])
{
    if (isfinite(ci[0]) && isfinite(ci[1]))
        snprintf(buf, cap, "%.3f-%.3f", ci[0], ci[1]);
    else
        snprintf(buf, cap, "-");
    return buf;
}

/* The image AUROC's note: its interval and how it was made (empty when undefined). */
static const char *interval_note(char *buf, size_t cap, const sn_report_summary *s)
{
    char iv[64];
    /* a zero width (every resample separates the images alike, as when all are ranked correctly)
     * is no evidence that the AUROC would hold on more images: say so */
    if (isfinite(s->image_auroc_ci[0]))
        snprintf(buf, cap, "%g%% interval %s (bootstrap, %d resamples%s)", 100 * s->ci_level,
                 fmt_interval(iv, sizeof iv, s->image_auroc_ci), s->ci_resamples,
                 s->image_auroc_ci[0] == s->image_auroc_ci[1] ? "; zero width: every resample ranks the "
                                                                "images alike, which says nothing about "
                                                                "more images" : "");
    else
        buf[0] = '\0';
    return buf;
}

void sn_report_print_table(const sn_report_summary *s, FILE *f)
{
    const sn_eval_result *r = &s->res;
    char note[256], lab[64];
    fprintf(f, "sernet eval: %s (category %s, %lld test images, %dx%d)\n", s->results, s->category,
            (long long)s->M, s->S, s->S);
    fprintf(f, "  images %lld (good %lld, defective %lld); pixels %lld (defect %lld, regions %lld)\n",
            (long long)r->n_images, (long long)r->n_good, (long long)r->n_defective,
            (long long)r->n_pixels, (long long)r->n_defect_pixels, (long long)r->n_regions);
    if (s->unlabelled_defects)
        fprintf(f, "  note: %lld images of a defect type have no ground-truth mask pixel; the "
                   "metrics count them as good\n", (long long)s->unlabelled_defects);
    fprintf(f, "\n  %-24s %10s\n", "metric", "value");
    row(f, "image AUROC", r->image_auroc, interval_note(note, sizeof note, s));
    row(f, "pixel AUROC", r->pixel_auroc, bound_note(note, sizeof note, r->binned, r->pixel_auroc_bound));
    snprintf(lab, sizeof lab, "AUPRO (FPR <= %g)", r->max_fpr);
    row(f, lab, r->aupro, bound_note(note, sizeof note, r->binned, r->aupro_bound));
    row(f, "pixel AP", r->pixel_ap, bound_note(note, sizeof note, r->binned, r->pixel_ap_bound));
    if (r->f1.f1.defined) {
        snprintf(note, sizeof note, "threshold %.6g, precision %.4f, recall %.4f", r->f1.threshold,
                 r->f1.precision, r->f1.recall);
        row(f, "image F1 (optimal)", r->f1.f1, note);
    } else {
        row(f, "image F1 (optimal)", r->f1.f1, NULL);
    }
    const sn_eval_curves *c = &s->cv;
    if (c->pixel_f1.defined) {
        snprintf(note, sizeof note, "threshold %.6g, precision %.4f, recall %.4f", c->pixel_threshold,
                 c->pixel_precision, c->pixel_recall);
        row(f, "pixel F1 (optimal)", c->pixel_f1, note);
        if (c->f1_bound > 0)
            fprintf(f, "  %-24s %10s  (not exact: best F1 over all thresholds <= %.6f)\n", "", "",
                    c->pixel_f1.value + c->f1_bound);
    } else {
        row(f, "pixel F1 (optimal)", c->pixel_f1, NULL);
    }
    snprintf(lab, sizeof lab, "%g%% interval", 100 * s->ci_level);
    fprintf(f, "\n  %-16s %7s %12s %12s %12s  %s\n", "defect type", "images", "image AUROC", "pixel AUROC",
            "AUPRO", lab);
    for (int t = 0; t < s->n_types; t++) {
        char a[32], p[32], q[32], iv[64];
        fmt_metric(a, sizeof a, s->type_image_auroc[t]);
        fmt_metric(p, sizeof p, s->type_pixel_auroc[t]);
        fmt_metric(q, sizeof q, s->type_aupro[t]);
        fprintf(f, "  %-16s %7lld %12s %12s %12s  %s\n", s->type_names[t], (long long)s->type_images[t], a,
                p, q, fmt_interval(iv, sizeof iv, s->type_image_auroc_ci[t]));
    }
    fprintf(f, "  (per type: that type's images against the good images; pixel metrics over the "
               "same images; the interval is the image AUROC's)\n");
}

/* ------------------------------------------------------------------ JSON -------------- */

/* The JSON file is built as a cJSON tree and printed by cJSON. Numbers are added as raw text:
 * doubles with %.17g (cJSON's own printing may round to 15 digits when that is within an ulp,
 * and a threshold read back must be the exact double), integers as int64 text; a non-finite or
 * undefined value is null. */
typedef struct {
    cJSON *root;
    int failed; /* an allocation inside cJSON failed */
} jdoc;

static void jadd(jdoc *d, cJSON *obj, const char *k, cJSON *item)
{
    if (!item || !cJSON_AddItemToObject(obj, k, item)) {
        cJSON_Delete(item);
        d->failed = 1;
    }
}

static cJSON *jnum(double v)
{
    char buf[40];
    if (!isfinite(v))
        return cJSON_CreateNull();
    snprintf(buf, sizeof buf, "%.17g", v);
    return cJSON_CreateRaw(buf);
}

static cJSON *jint(int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return cJSON_CreateRaw(buf);
}

static cJSON *jmetric(sn_metric m) { return jnum(m.defined ? m.value : NAN); }

/* [low, high], or null when the interval is undefined */
static cJSON *jinterval(const double ci[2])
{
    if (!isfinite(ci[0]) || !isfinite(ci[1]))
        return cJSON_CreateNull();
    cJSON *a = cJSON_CreateArray();
    for (int e = 0; a && e < 2; e++) {
        cJSON *x = jnum(ci[e]);
        if (!x || !cJSON_AddItemToArray(a, x)) {
            cJSON_Delete(x);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

static cJSON *jworst(jdoc *d, const sn_report_summary *s, const int64_t *idx, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int j = 0; a && j < n; j++) {
        const sn_report_image *im = &s->img[idx[j]];
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(a, o)) {
            cJSON_Delete(o);
            d->failed = 1;
            break;
        }
        jadd(d, o, "index", jint(im->index));
        jadd(d, o, "name", cJSON_CreateString(sn_dataset_name(s->ds, SN_SPLIT_TEST, idx[j])));
        jadd(d, o, "type", cJSON_CreateString(im->type >= 0 && im->type < s->n_types ? s->type_names[im->type] : ""));
        jadd(d, o, "score", jnum(im->score));
    }
    return a;
}

sn_status sn_report_write_json(const sn_report_summary *s, const char *path)
{
    sn_status status = SN_OK;
    sn_afile af = {0};
    char *text = NULL;
    const sn_eval_result *r = &s->res;
    const sn_eval_curves *c = &s->cv;
    jdoc d = {cJSON_CreateObject(), 0};
    cJSON *o = d.root;
    if (!o)
        SN_FAIL(SN_ENOMEM, "%s: out of memory building the JSON", path);
    jadd(&d, o, "format", cJSON_CreateString(SN_METRICS_FORMAT));
    jadd(&d, o, "format_version", jint(SN_METRICS_VERSION));
    jadd(&d, o, "results", cJSON_CreateString(s->results));
    jadd(&d, o, "data", cJSON_CreateString(s->data));
    jadd(&d, o, "model", cJSON_CreateString(s->model));
    jadd(&d, o, "category", cJSON_CreateString(s->category));
    jadd(&d, o, "image_size", jint(s->S));
    jadd(&d, o, "n_images", jint(r->n_images));
    jadd(&d, o, "n_good", jint(r->n_good));
    jadd(&d, o, "n_defective", jint(r->n_defective));
    jadd(&d, o, "n_pixels", jint(r->n_pixels));
    jadd(&d, o, "n_defect_pixels", jint(r->n_defect_pixels));
    jadd(&d, o, "n_regions", jint(r->n_regions));
    jadd(&d, o, "image_auroc", jmetric(r->image_auroc));
    jadd(&d, o, "image_auroc_ci", jinterval(s->image_auroc_ci));
    jadd(&d, o, "ci_level", jnum(s->ci_level));
    jadd(&d, o, "ci_resamples", jint(s->ci_resamples));
    jadd(&d, o, "pixel_auroc", jmetric(r->pixel_auroc));
    jadd(&d, o, "aupro", jmetric(r->aupro));
    jadd(&d, o, "aupro_max_fpr", jnum(r->max_fpr));
    jadd(&d, o, "pixel_ap", jmetric(r->pixel_ap));
    jadd(&d, o, "pixel_metrics_binned", jint(r->binned));
    jadd(&d, o, "pixel_auroc_bound", jnum(r->pixel_auroc_bound));
    jadd(&d, o, "aupro_bound", jnum(r->aupro_bound));
    jadd(&d, o, "pixel_ap_bound", jnum(r->pixel_ap_bound));
    jadd(&d, o, "image_f1", jmetric(r->f1.f1));
    jadd(&d, o, "image_threshold", jnum(r->f1.threshold));
    jadd(&d, o, "image_precision", jnum(r->f1.precision));
    jadd(&d, o, "image_recall", jnum(r->f1.recall));
    jadd(&d, o, "pixel_f1", jmetric(c->pixel_f1));
    jadd(&d, o, "pixel_threshold", jnum(c->pixel_threshold));
    jadd(&d, o, "pixel_precision", jnum(c->pixel_precision));
    jadd(&d, o, "pixel_recall", jnum(c->pixel_recall));
    jadd(&d, o, "pixel_f1_bound", jnum(c->f1_bound));
    jadd(&d, o, "curve_bins", jint(c->bins));
    jadd(&d, o, "curve_points", jint(c->n));
    cJSON *types = cJSON_CreateArray();
    jadd(&d, o, "types", types);
    for (int t = 0; types && !d.failed && t < s->n_types; t++) {
        cJSON *e = cJSON_CreateObject();
        if (!e || !cJSON_AddItemToArray(types, e)) {
            cJSON_Delete(e);
            d.failed = 1;
            break;
        }
        jadd(&d, e, "id", jint(t));
        jadd(&d, e, "name", cJSON_CreateString(s->type_names[t]));
        jadd(&d, e, "images", jint(s->type_images[t]));
        jadd(&d, e, "image_auroc", jmetric(s->type_image_auroc[t]));
        jadd(&d, e, "image_auroc_ci", jinterval(s->type_image_auroc_ci[t]));
        jadd(&d, e, "pixel_auroc", jmetric(s->type_pixel_auroc[t]));
        jadd(&d, e, "aupro", jmetric(s->type_aupro[t]));
    }
    jadd(&d, o, "worst_false_positives", jworst(&d, s, s->fp, s->n_fp));
    jadd(&d, o, "worst_false_negatives", jworst(&d, s, s->fn, s->n_fn));
    if (d.failed || !(text = cJSON_Print(o)))
        SN_FAIL(SN_ENOMEM, "%s: out of memory building the JSON", path);
    SN_TRY(sn_afile_open(&af, path));
    fputs(text, af.fp);
    fputc('\n', af.fp);
    SN_TRY(sn_afile_commit(&af));
done:
    sn_afile_discard(&af);
    cJSON_free(text);
    cJSON_Delete(d.root);
    return status;
}

/* ------------------------------------------------------------------ SVG --------------- */

/* A 420 x 400 curve panel with y in [0, 1] (sernet/plot.h). */
static sn_plot_panel curve_panel(double left, const char *title, const char *ylabel, double xmax,
                                 int diagonal, const sn_plot_series *ser)
{
    sn_plot_panel p = {left, 0, 420, 400, title, "false positive rate", ylabel, 0, xmax, 0, 1,
                       diagonal, NAN, NULL, ser, 1};
    return p;
}

static sn_status svg_roc_image(const sn_report_summary *s, const char *path)
{
    sn_status status = SN_OK;
    double *x = NULL, *y = NULL;
    float *sc = NULL;
    uint8_t *lb = NULL;
    char label[96];
    SN_ALLOC(x, s->M + 2, "ROC points");
    SN_ALLOC(y, s->M + 2, "ROC points");
    SN_ALLOC(sc, s->M + 1, "ROC scores");
    SN_ALLOC(lb, s->M + 1, "ROC labels");
    for (int64_t i = 0; i < s->M; i++) {
        sc[i] = s->img[i].score;
        lb[i] = (uint8_t)s->img[i].label;
    }
    int64_t n = 0;
    sn_eval_roc_points(sc, lb, s->M, x, y, &n);
    if (s->res.image_auroc.defined)
        snprintf(label, sizeof label, "AUROC %.4f", s->res.image_auroc.value);
    else
        snprintf(label, sizeof label, "AUROC n/a");
    sn_plot_series ser = {x, y, n, "#1f77b4", label};
    sn_plot_panel p = curve_panel(0, "Image-level ROC (exact)", "true positive rate", 1.0, 1, &ser);
    SN_TRY(sn_plot_svg(path, 420, 400, &p, 1));
done:
    sn_free(x);
    sn_free(y);
    sn_free(sc);
    sn_free(lb);
    return status;
}

static sn_status svg_roc_pixel(const sn_report_summary *s, const char *path)
{
    char label[96];
    const sn_eval_curves *c = &s->cv;
    if (c->pixel_auroc.defined)
        snprintf(label, sizeof label, "AUROC %.4f", c->pixel_auroc.value);
    else
        snprintf(label, sizeof label, "AUROC n/a");
    sn_plot_series ser = {c->fpr, c->tpr, c->n, "#d62728", label};
    sn_plot_panel p = curve_panel(0, "Pixel-level ROC", "true positive rate", 1.0, 1, &ser);
    return sn_plot_svg(path, 420, 400, &p, 1);
}

static sn_status svg_pro(const sn_report_summary *s, const char *path)
{
    char label[96], vlabel[48];
    const sn_eval_curves *c = &s->cv;
    if (c->aupro.defined)
        snprintf(label, sizeof label, "AUPRO %.4f", c->aupro.value);
    else
        snprintf(label, sizeof label, "AUPRO n/a");
    snprintf(vlabel, sizeof vlabel, "FPR %.3g", c->max_fpr);
    sn_plot_series ser = {c->fpr, c->pro, c->n, "#2ca02c", label};
    sn_plot_panel p[2] = {curve_panel(0, "PRO curve (all FPR)", "per-region overlap", 1.0, 0, &ser),
                          curve_panel(420, "PRO curve up to the AUPRO limit", "per-region overlap",
                                      c->max_fpr, 0, &ser)};
    p[0].vline = c->max_fpr;
    p[0].vline_label = vlabel;
    return sn_plot_svg(path, 840, 400, p, 2);
}

/* ------------------------------------------------------------------ report ------------ */

/* Panel of test image `i` at <dir>/<prefix>_<k>.png. */
static sn_status write_panel(const sn_report_summary *s, const char *path, int64_t i, sn_h5file *rf,
                             sn_dataset *ds, int have_recon)
{
    sn_status status = SN_OK;
    const size_t px = (size_t)s->S * s->S;
    uint8_t *rgb = NULL, *gt = NULL, *pred = NULL, *rec = NULL;
    float *mf = NULL, *map = NULL;
    hid_t dm = H5I_INVALID_HID, dr = H5I_INVALID_HID;
    SN_ALLOC(rgb, px * 3, "panel image");
    SN_ALLOC(gt, px, "panel mask");
    SN_ALLOC(pred, px, "panel prediction");
    SN_ALLOC(mf, px, "panel mask");
    SN_ALLOC(map, px, "panel map");
    SN_TRY(sn_dataset_read(ds, SN_SPLIT_TEST, &i, 1, NULL, mf, rgb));
    for (size_t k = 0; k < px; k++)
        gt[k] = mf[k] > 0.5f;
    SN_TRY(sn_results_open_col(rf, SN_RES_MAPS, s->M, s->S, &dm));
    SN_TRY(sn_results_read_col(rf, dm, SN_RES_MAPS, i, 1, map));
    if (have_recon) {
        SN_ALLOC(rec, px * 3, "panel reconstruction");
        SN_TRY(sn_results_open_col(rf, SN_RES_RECON, s->M, s->S, &dr));
        SN_TRY(sn_results_read_col(rf, dr, SN_RES_RECON, i, 1, rec));
    }
    int have_pred = s->cv.pixel_f1.defined;
    for (size_t k = 0; k < px; k++)
        pred[k] = have_pred && map[k] >= s->cv.pixel_threshold;
    float mmax = (float)(s->cv.hi > 0 ? s->cv.hi : 1.0);
    SN_TRY(sn_panel_write(path, s->S, rgb, gt, map, mmax, have_pred ? pred : NULL, rec));
done:
    if (dm >= 0)
        H5Dclose(dm);
    if (dr >= 0)
        H5Dclose(dr);
    sn_free(rgb);
    sn_free(gt);
    sn_free(pred);
    sn_free(rec);
    sn_free(mf);
    sn_free(map);
    return status;
}

static void md_metric(FILE *f, const char *name, sn_metric m, const char *note)
{
    if (m.defined)
        fprintf(f, "| %s | %.6f | %s |\n", name, m.value, note ? note : "");
    else
        fprintf(f, "| %s | n/a | %s |\n", name, note ? note : "undefined");
}

sn_status sn_report_write_markdown(const sn_report_summary *s, const char *dir, sn_h5file *rf, sn_dataset *ds)
{
    sn_status status = SN_OK;
    char path[1200], note[256];
    sn_afile af = {0};
    const sn_eval_result *r = &s->res;
    const sn_eval_curves *c = &s->cv;
    SN_TRY(sn_mkdirs(dir));
    snprintf(path, sizeof path, "%s/roc_image.svg", dir);
    SN_TRY(svg_roc_image(s, path));
    snprintf(path, sizeof path, "%s/roc_pixel.svg", dir);
    SN_TRY(svg_roc_pixel(s, path));
    snprintf(path, sizeof path, "%s/pro.svg", dir);
    SN_TRY(svg_pro(s, path));
    int have_recon = sn_h5_exists(rf, sn_results_col_name(SN_RES_RECON));
    for (int pass = 0; pass < 2; pass++) {
        const char *pre = pass == 0 ? "fp" : "fn";
        const int64_t *idx = pass == 0 ? s->fp : s->fn;
        int n = pass == 0 ? s->n_fp : s->n_fn;
        for (int j = 0; j < n; j++) {
            snprintf(path, sizeof path, "%s/%s_%d.png", dir, pre, j + 1);
            SN_TRY(write_panel(s, path, idx[j], rf, ds, have_recon));
        }
        /* panels of an earlier run with a larger --worst would be stale */
        for (int j = n + 1;; j++) {
            snprintf(path, sizeof path, "%s/%s_%d.png", dir, pre, j);
            if (remove(path) != 0)
                break;
        }
    }

    snprintf(path, sizeof path, "%s/report.md", dir);
    SN_TRY(sn_afile_open(&af, path));
    FILE *f = af.fp;
    fprintf(f, "# Evaluation of %s\n\n", s->results);
    fprintf(f, "| | |\n|---|---|\n| results | `%s` |\n| dataset | `%s` |\n| category | %s |\n",
            s->results, s->data, s->category);
    if (s->model[0])
        fprintf(f, "| model | `%s` |\n", s->model);
    fprintf(f, "| test images | %lld (good %lld, defective %lld), %dx%d |\n", (long long)r->n_images,
            (long long)r->n_good, (long long)r->n_defective, s->S, s->S);
    fprintf(f, "| pixels | %lld (defect %lld, ground-truth regions %lld) |\n\n", (long long)r->n_pixels,
            (long long)r->n_defect_pixels, (long long)r->n_regions);
    if (s->unlabelled_defects)
        fprintf(f, "%lld images of a defect type have no ground-truth mask pixel; the metrics count "
                   "them as good.\n\n", (long long)s->unlabelled_defects);
    fprintf(f, "## Metrics\n\n| metric | value | note |\n|---|---|---|\n");
    md_metric(f, "image AUROC", r->image_auroc, interval_note(note, sizeof note, s));
    bound_note(note, sizeof note, r->binned, r->pixel_auroc_bound);
    md_metric(f, "pixel AUROC", r->pixel_auroc, note);
    char lab[64];
    snprintf(lab, sizeof lab, "AUPRO (FPR ≤ %g)", r->max_fpr);
    bound_note(note, sizeof note, r->binned, r->aupro_bound);
    md_metric(f, lab, r->aupro, note);
    bound_note(note, sizeof note, r->binned, r->pixel_ap_bound);
    md_metric(f, "pixel AP", r->pixel_ap, note);
    if (r->f1.f1.defined)
        snprintf(note, sizeof note, "threshold %.6g, precision %.4f, recall %.4f", r->f1.threshold,
                 r->f1.precision, r->f1.recall);
    md_metric(f, "image F1 (optimal threshold)", r->f1.f1, r->f1.f1.defined ? note : NULL);
    if (c->pixel_f1.defined) {
        if (c->f1_bound == 0)
            snprintf(note, sizeof note, "threshold %.6g, precision %.4f, recall %.4f (exact)",
                     c->pixel_threshold, c->pixel_precision, c->pixel_recall);
        else
            snprintf(note, sizeof note, "threshold %.6g, precision %.4f, recall %.4f; not exact: best F1 "
                     "over all thresholds ≤ %.6f", c->pixel_threshold, c->pixel_precision,
                     c->pixel_recall, c->pixel_f1.value + c->f1_bound);
    }
    md_metric(f, "pixel F1 (optimal threshold)", c->pixel_f1, c->pixel_f1.defined ? note : NULL);
    fprintf(f, "\n### Per defect type\n\nEach defect type's images against the good images; the "
               "pixel metrics over the same images.\n\n| type | images | image AUROC | %g%% interval "
               "| pixel AUROC | AUPRO |\n|---|---|---|---|---|---|\n", 100 * s->ci_level);
    for (int t = 0; t < s->n_types; t++) {
        char a[32], p[32], q[32], iv[64];
        fmt_metric(a, sizeof a, s->type_image_auroc[t]);
        fmt_metric(p, sizeof p, s->type_pixel_auroc[t]);
        fmt_metric(q, sizeof q, s->type_aupro[t]);
        fprintf(f, "| %s | %lld | %s | %s | %s | %s |\n", s->type_names[t], (long long)s->type_images[t], a,
                fmt_interval(iv, sizeof iv, s->type_image_auroc_ci[t]), p, q);
    }
    fprintf(f, "\n## Curves\n\nImage-level ROC (exact, one point per distinct score) and pixel-level "
               "ROC:\n\n![image ROC](roc_image.svg) ![pixel ROC](roc_pixel.svg)\n\n"
               "PRO (mean per-region overlap) against the pixel false positive rate, over the whole "
               "range and up to the AUPRO limit %g:\n\n![PRO curve](pro.svg)\n\n"
               "The pixel curves have %d points, each an exact point of the curve (thresholds = the "
               "smallest score of each non-empty bin of %d over [%.6g, %.6g])%s.\n\n",
            c->max_fpr, c->n, c->bins, c->lo, c->hi,
            c->exact ? "; every distinct score is a point" : "");
    for (int pass = 0; pass < 2; pass++) {
        const int64_t *idx = pass == 0 ? s->fp : s->fn;
        int n = pass == 0 ? s->n_fp : s->n_fn;
        fprintf(f, "## Worst false %s\n\n%s\n\n", pass == 0 ? "positives" : "negatives",
                pass == 0 ? "Good images with the highest scores." : "Defective images with the lowest scores.");
        if (n == 0) {
            if (s->worst == 0)
                fprintf(f, "None listed (--worst 0).\n\n");
            else
                fprintf(f, "None (no %s images).\n\n", pass == 0 ? "good" : "defective");
            continue;
        }
        fprintf(f, "| # | image | type | score | at the F1 threshold |\n|---|---|---|---|---|\n");
        for (int j = 0; j < n; j++) {
            const sn_report_image *im = &s->img[idx[j]];
            int flagged = r->f1.f1.defined && im->score >= r->f1.threshold;
            const char *verdict = !r->f1.f1.defined ? "n/a" : pass == 0 ? (flagged ? "false alarm" : "passed")
                                                               : (flagged ? "detected" : "missed");
            fprintf(f, "| %d | `%s` (index %lld) | %s | %.6g | %s |\n", j + 1,
                    sn_dataset_name(s->ds, SN_SPLIT_TEST, idx[j]), (long long)im->index,
                    im->type >= 0 && im->type < s->n_types ? s->type_names[im->type] : "?", im->score, verdict);
        }
        fputc('\n', f);
        for (int j = 0; j < n; j++)
            fprintf(f, "%d. ![%s %d](%s_%d.png)\n", j + 1, pass == 0 ? "false positive" : "false negative",
                    j + 1, pass == 0 ? "fp" : "fn", j + 1);
        fprintf(f, "\nPanels: image | ground truth | anomaly map as heat overlay (full heat = %.4g, "
                   "the largest map value of the test set) | predicted mask (map ≥ pixel threshold "
                   "%.6g) | reconstruction.\n\n", c->hi, c->pixel_threshold);
    }
    SN_TRY(sn_afile_commit(&af));
done:
    sn_afile_discard(&af);
    return status;
}

/* ------------------------------------------------------------------ /metrics ---------- */

static sn_status write_vec(sn_h5file *f, const char *path, hid_t type, int64_t n, const void *data)
{
    sn_status status = SN_OK;
    hid_t d = H5I_INVALID_HID;
    hsize_t dims[1] = {(hsize_t)n};
    SN_TRY(sn_h5_dataset_create(f, path, type, 1, dims, NULL, &d));
    if (n > 0 && H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        SN_FAIL(SN_EIO, "%s: cannot write dataset %s: %s", f->path, path, sn_h5_detail());
done:
    if (d >= 0)
        H5Dclose(d);
    return status;
}

static double mv(sn_metric m) { return m.defined ? m.value : NAN; }

sn_status sn_report_write_metrics_h5(const sn_report_summary *s, const char *results)
{
    sn_status status = SN_OK;
    sn_h5file f = {.id = H5I_INVALID_HID};
    hid_t st = H5I_INVALID_HID;
    char *names = NULL, vp[256];
    double *v = NULL;
    const int T = s->n_types;
    const sn_eval_result *r = &s->res;
    const sn_eval_curves *c = &s->cv;
    /* a copy of the results file with a new /metrics group (identity attributes set) */
    SN_TRY(sn_results_metrics_begin(&f, results));
    const char *w = SN_RESULTS_METRICS;
    SN_TRY(sn_h5_attr_set_str(&f, w, "data", s->data));
    SN_TRY(sn_h5_attr_set_int(&f, w, "n_images", r->n_images));
    SN_TRY(sn_h5_attr_set_int(&f, w, "n_good", r->n_good));
    SN_TRY(sn_h5_attr_set_int(&f, w, "n_defective", r->n_defective));
    SN_TRY(sn_h5_attr_set_int(&f, w, "n_pixels", r->n_pixels));
    SN_TRY(sn_h5_attr_set_int(&f, w, "n_defect_pixels", r->n_defect_pixels));
    SN_TRY(sn_h5_attr_set_int(&f, w, "n_regions", r->n_regions));
    SN_TRY(sn_h5_attr_set_double(&f, w, "image_auroc", mv(r->image_auroc)));
    SN_TRY(sn_h5_attr_set_double(&f, w, "image_auroc_ci_low", s->image_auroc_ci[0]));
    SN_TRY(sn_h5_attr_set_double(&f, w, "image_auroc_ci_high", s->image_auroc_ci[1]));
    SN_TRY(sn_h5_attr_set_double(&f, w, "ci_level", s->ci_level));
    SN_TRY(sn_h5_attr_set_int(&f, w, "ci_resamples", s->ci_resamples));
    SN_TRY(sn_h5_attr_set_double(&f, w, "pixel_auroc", mv(r->pixel_auroc)));
    SN_TRY(sn_h5_attr_set_double(&f, w, "aupro", mv(r->aupro)));
    SN_TRY(sn_h5_attr_set_double(&f, w, "aupro_max_fpr", r->max_fpr));
    SN_TRY(sn_h5_attr_set_double(&f, w, "pixel_ap", mv(r->pixel_ap)));
    SN_TRY(sn_h5_attr_set_int(&f, w, "pixel_metrics_binned", r->binned));
    SN_TRY(sn_h5_attr_set_double(&f, w, "pixel_auroc_bound", r->pixel_auroc_bound));
    SN_TRY(sn_h5_attr_set_double(&f, w, "aupro_bound", r->aupro_bound));
    SN_TRY(sn_h5_attr_set_double(&f, w, "pixel_ap_bound", r->pixel_ap_bound));
    SN_TRY(sn_h5_attr_set_double(&f, w, "image_f1", mv(r->f1.f1)));
    SN_TRY(sn_h5_attr_set_double(&f, w, "image_threshold", r->f1.threshold));
    SN_TRY(sn_h5_attr_set_double(&f, w, "image_precision", r->f1.precision));
    SN_TRY(sn_h5_attr_set_double(&f, w, "image_recall", r->f1.recall));
    SN_TRY(sn_h5_attr_set_double(&f, w, "pixel_f1", mv(c->pixel_f1)));
    SN_TRY(sn_h5_attr_set_double(&f, w, "pixel_threshold", c->pixel_threshold));
    SN_TRY(sn_h5_attr_set_double(&f, w, "pixel_precision", c->pixel_precision));
    SN_TRY(sn_h5_attr_set_double(&f, w, "pixel_recall", c->pixel_recall));
    SN_TRY(sn_h5_attr_set_double(&f, w, "pixel_f1_bound", c->f1_bound));
    SN_TRY(sn_h5_attr_set_int(&f, w, "curve_bins", c->bins));

    SN_ALLOC(names, (size_t)T * 64 + 1, "type names");
    SN_ALLOC(v, T + 1, "per-type values");
    memset(names, 0, (size_t)T * 64 + 1);
    for (int t = 0; t < T; t++)
        snprintf(names + (size_t)t * 64, 64, "%s", s->type_names[t]);
    st = sn_h5_string_type(64);
    if (st < 0)
        SN_FAIL(SN_EIO, "%s: string type: %s", f.tmp, sn_h5_detail());
    SN_TRY(write_vec(&f, sn_results_metrics_path(vp, sizeof vp, "type_names"), st, T, names));
    SN_TRY(write_vec(&f, sn_results_metrics_path(vp, sizeof vp, "type_images"), H5T_NATIVE_INT64, T,
                     s->type_images));
    for (int t = 0; t < T; t++)
        v[t] = mv(s->type_image_auroc[t]);
    SN_TRY(write_vec(&f, sn_results_metrics_path(vp, sizeof vp, "type_image_auroc"), H5T_NATIVE_DOUBLE,
                     T, v));
    for (int e = 0; e < 2; e++) {
        for (int t = 0; t < T; t++)
            v[t] = s->type_image_auroc_ci[t][e];
        SN_TRY(write_vec(&f, sn_results_metrics_path(vp, sizeof vp, e ? "type_image_auroc_ci_high"
                                                                       : "type_image_auroc_ci_low"),
                         H5T_NATIVE_DOUBLE, T, v));
    }
    for (int t = 0; t < T; t++)
        v[t] = mv(s->type_pixel_auroc[t]);
    SN_TRY(write_vec(&f, sn_results_metrics_path(vp, sizeof vp, "type_pixel_auroc"), H5T_NATIVE_DOUBLE,
                     T, v));
    for (int t = 0; t < T; t++)
        v[t] = mv(s->type_aupro[t]);
    SN_TRY(write_vec(&f, sn_results_metrics_path(vp, sizeof vp, "type_aupro"), H5T_NATIVE_DOUBLE, T,
                     v));
done:
    if (st >= 0)
        H5Tclose(st);
    status = sn_results_metrics_finish(&f, results, status);
    sn_free(names);
    sn_free(v);
    return status;
}
