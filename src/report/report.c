/* Outputs of `sernet eval` on rank 0: the table, the JSON file, the report folder (Markdown,
 * hand-written SVG curves, PNG panels) and the /metrics group of the results file. Every file is
 * written under a temporary name and renamed into place. */
#include "report/report.h"
#include "sernet/evaluate.h"
#include "sernet/panel.h"

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

void sn_ev_print_table(const sn_ev_summary *s, FILE *f)
{
    const sn_eval_result *r = &s->res;
    char note[160], lab[64];
    fprintf(f, "sernet eval: %s (category %s, %lld test images, %dx%d)\n", s->results, s->category,
            (long long)s->M, s->S, s->S);
    fprintf(f, "  images %lld (good %lld, defective %lld); pixels %lld (defect %lld, regions %lld)\n",
            (long long)r->n_images, (long long)r->n_good, (long long)r->n_defective,
            (long long)r->n_pixels, (long long)r->n_defect_pixels, (long long)r->n_regions);
    if (s->unlabelled_defects)
        fprintf(f, "  note: %lld images of a defect type have no ground-truth mask pixel; the "
                   "metrics count them as good\n", (long long)s->unlabelled_defects);
    fprintf(f, "\n  %-24s %10s\n", "metric", "value");
    row(f, "image AUROC", r->image_auroc, NULL);
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
    fprintf(f, "\n  %-16s %7s %12s %12s %12s\n", "defect type", "images", "image AUROC", "pixel AUROC",
            "AUPRO");
    for (int t = 0; t < s->n_types; t++) {
        char a[32], p[32], q[32];
        fmt_metric(a, sizeof a, s->type_image_auroc[t]);
        fmt_metric(p, sizeof p, s->type_pixel_auroc[t]);
        fmt_metric(q, sizeof q, s->type_aupro[t]);
        fprintf(f, "  %-16s %7lld %12s %12s %12s\n", s->type_names[t], (long long)s->type_images[t], a,
                p, q);
    }
    fprintf(f, "  (per type: that type's images against the good images; pixel metrics over the "
               "same images)\n");
}

/* ------------------------------------------------------------------ files ------------- */

static sn_status open_tmp(const char *path, char *tmp, size_t cap, FILE **fp)
{
    int k = snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid());
    *fp = NULL;
    if (k < 0 || (size_t)k >= cap)
        return SN_ERR(SN_EINVAL, "%s: path too long", path);
    *fp = fopen(tmp, "w");
    if (!*fp)
        return SN_ERR(SN_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    return SN_OK;
}

static sn_status close_rename(FILE *fp, const char *tmp, const char *path)
{
    int bad = ferror(fp);
    if (fclose(fp) != 0 || bad) {
        remove(tmp);
        return SN_ERR(SN_EIO, "%s: write failed", tmp);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return SN_ERR(SN_EIO, "%s: cannot rename %s into place: %s", path, tmp, strerror(e));
    }
    return SN_OK;
}

/* ------------------------------------------------------------------ JSON -------------- */

static void jstr(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void jnum(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

static void jkey(FILE *f, const char *k, int *first)
{
    fputs(*first ? "\n  " : ",\n  ", f);
    *first = 0;
    jstr(f, k);
    fputs(": ", f);
}

static void jmetric(FILE *f, const char *k, sn_metric m, int *first)
{
    jkey(f, k, first);
    jnum(f, m.defined ? m.value : NAN);
}

static void jdouble(FILE *f, const char *k, double v, int *first)
{
    jkey(f, k, first);
    jnum(f, v);
}

static void jint(FILE *f, const char *k, int64_t v, int *first)
{
    jkey(f, k, first);
    fprintf(f, "%lld", (long long)v);
}

static void jworst(FILE *f, const sn_ev_summary *s, const int64_t *idx, int n)
{
    fputc('[', f);
    for (int j = 0; j < n; j++) {
        const sn_ev_image *im = &s->img[idx[j]];
        fprintf(f, "%s\n    {\"index\": %lld, \"name\": ", j ? "," : "", (long long)im->index);
        jstr(f, sn_dataset_name(s->ds, SN_SPLIT_TEST, idx[j]));
        fputs(", \"type\": ", f);
        jstr(f, im->type >= 0 && im->type < s->n_types ? s->type_names[im->type] : "");
        fputs(", \"score\": ", f);
        jnum(f, im->score);
        fputc('}', f);
    }
    fputs(n ? "\n  ]" : "]", f);
}

sn_status sn_ev_write_json(const sn_ev_summary *s, const char *path)
{
    sn_status status = SN_OK;
    char tmp[1200];
    FILE *f = NULL;
    const sn_eval_result *r = &s->res;
    const sn_eval_curves *c = &s->cv;
    int first = 1;
    SN_TRY(open_tmp(path, tmp, sizeof tmp, &f));
    fputc('{', f);
    jkey(f, "format", &first);
    jstr(f, SN_METRICS_FORMAT);
    jint(f, "format_version", SN_METRICS_VERSION, &first);
    jkey(f, "results", &first);
    jstr(f, s->results);
    jkey(f, "data", &first);
    jstr(f, s->data);
    jkey(f, "model", &first);
    jstr(f, s->model);
    jkey(f, "category", &first);
    jstr(f, s->category);
    jint(f, "image_size", s->S, &first);
    jint(f, "n_images", r->n_images, &first);
    jint(f, "n_good", r->n_good, &first);
    jint(f, "n_defective", r->n_defective, &first);
    jint(f, "n_pixels", r->n_pixels, &first);
    jint(f, "n_defect_pixels", r->n_defect_pixels, &first);
    jint(f, "n_regions", r->n_regions, &first);
    jmetric(f, "image_auroc", r->image_auroc, &first);
    jmetric(f, "pixel_auroc", r->pixel_auroc, &first);
    jmetric(f, "aupro", r->aupro, &first);
    jdouble(f, "aupro_max_fpr", r->max_fpr, &first);
    jmetric(f, "pixel_ap", r->pixel_ap, &first);
    jint(f, "pixel_metrics_binned", r->binned, &first);
    jdouble(f, "pixel_auroc_bound", r->pixel_auroc_bound, &first);
    jdouble(f, "aupro_bound", r->aupro_bound, &first);
    jdouble(f, "pixel_ap_bound", r->pixel_ap_bound, &first);
    jmetric(f, "image_f1", r->f1.f1, &first);
    jdouble(f, "image_threshold", r->f1.threshold, &first);
    jdouble(f, "image_precision", r->f1.precision, &first);
    jdouble(f, "image_recall", r->f1.recall, &first);
    jmetric(f, "pixel_f1", c->pixel_f1, &first);
    jdouble(f, "pixel_threshold", c->pixel_threshold, &first);
    jdouble(f, "pixel_precision", c->pixel_precision, &first);
    jdouble(f, "pixel_recall", c->pixel_recall, &first);
    jdouble(f, "pixel_f1_bound", c->f1_bound, &first);
    jint(f, "curve_bins", c->bins, &first);
    jint(f, "curve_points", c->n, &first);
    jkey(f, "types", &first);
    fputc('[', f);
    for (int t = 0; t < s->n_types; t++) {
        fprintf(f, "%s\n    {\"id\": %d, \"name\": ", t ? "," : "", t);
        jstr(f, s->type_names[t]);
        fprintf(f, ", \"images\": %lld, \"image_auroc\": ", (long long)s->type_images[t]);
        jnum(f, s->type_image_auroc[t].defined ? s->type_image_auroc[t].value : NAN);
        fputs(", \"pixel_auroc\": ", f);
        jnum(f, s->type_pixel_auroc[t].defined ? s->type_pixel_auroc[t].value : NAN);
        fputs(", \"aupro\": ", f);
        jnum(f, s->type_aupro[t].defined ? s->type_aupro[t].value : NAN);
        fputc('}', f);
    }
    fputs(s->n_types ? "\n  ]" : "]", f);
    jkey(f, "worst_false_positives", &first);
    jworst(f, s, s->fp, s->n_fp);
    jkey(f, "worst_false_negatives", &first);
    jworst(f, s, s->fn, s->n_fn);
    fputs("\n}\n", f);
    status = close_rename(f, tmp, path);
    f = NULL;
done:
    if (f) {
        fclose(f);
        remove(tmp);
    }
    return status;
}

/* ------------------------------------------------------------------ SVG --------------- */

typedef struct {
    const double *x, *y;
    int64_t n;
    const char *colour, *label;
} svg_series;

/* One plot: x in [0, xmax], y in [0, 1]; optional diagonal and a dashed vertical line at vline
 * (< 0: none). Points closer than 1/1000 of the axes to the last drawn point are skipped. */
static void svg_plot(FILE *f, double ox, double oy, double W, double H, const char *title,
                     const char *xlabel, const char *ylabel, double xmax, int diagonal, double vline,
                     const svg_series *ser, int nser)
{
    const double L = 50, R = 15, T = 28, B = 40;
    const double pw = W - L - R, ph = H - T - B;
    fprintf(f, "<g transform=\"translate(%.0f,%.0f)\" font-family=\"sans-serif\" font-size=\"11\">\n", ox, oy);
    fprintf(f, "<text x=\"%.0f\" y=\"18\" font-size=\"13\">%s</text>\n", L, title);
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"black\"/>\n",
            L, T, pw, ph);
    for (int k = 0; k <= 4; k++) {
        double gx = L + pw * k / 4.0, gy = T + ph - ph * k / 4.0;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>\n", gx, T, gx, T + ph);
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, gy, L + pw, gy);
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.3g</text>\n", gx, T + ph + 14, xmax * k / 4.0);
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.2g</text>\n", L - 4, gy + 4, k / 4.0);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n", L + pw / 2, H - 6, xlabel);
    fprintf(f, "<text x=\"12\" y=\"%.0f\" transform=\"rotate(-90 12 %.0f)\" text-anchor=\"middle\">%s</text>\n",
            T + ph / 2, T + ph / 2, ylabel);
    if (diagonal)
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#999\" stroke-dasharray=\"4,3\"/>\n",
                L, T + ph, L + pw, T);
    if (vline >= 0 && vline <= xmax) {
        double vx = L + pw * vline / xmax;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#555\" stroke-dasharray=\"6,3\"/>\n"
                   "<text x=\"%.1f\" y=\"%.0f\">FPR %.3g</text>\n", vx, T, vx, T + ph, vx + 3, T + 12, vline);
    }
    for (int k = 0; k < nser; k++) {
        const svg_series *sr = &ser[k];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" points=\"", sr->colour);
        double lx = -1, ly = -1;
        for (int64_t i = 0; i < sr->n; i++) {
            double xv = sr->x[i], yv = sr->y[i];
            if (xv > xmax) { /* the segment crossing the right edge, interpolated linearly */
                double x0 = i ? sr->x[i - 1] : 0, y0 = i ? sr->y[i - 1] : 0;
                yv = xv > x0 ? y0 + (yv - y0) * (xmax - x0) / (xv - x0) : yv;
                xv = xmax;
            }
            double px = L + pw * xv / xmax, py = T + ph - ph * yv;
            int last = i == sr->n - 1 || sr->x[i] > xmax;
            if (i == 0 || last || fabs(px - lx) >= pw / 1000 || fabs(py - ly) >= ph / 1000) {
                fprintf(f, "%.2f,%.2f ", px, py);
                lx = px;
                ly = py;
            }
            if (sr->x[i] > xmax)
                break;
        }
        fputs("\"/>\n", f);
        if (sr->label)
            fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" fill=\"%s\">%s</text>\n", L + pw - 150,
                    T + ph - 10 - 14 * k, sr->colour, sr->label);
    }
    fputs("</g>\n", f);
}

static sn_status write_svg(const char *path, double W, double H, FILE **out, char *tmp, size_t cap)
{
    sn_status st = open_tmp(path, tmp, cap, out);
    if (st != SN_OK)
        return st;
    fprintf(*out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\">\n"
                  "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    return SN_OK;
}

static sn_status svg_roc_image(const sn_ev_summary *s, const char *path)
{
    sn_status status = SN_OK;
    double *x = NULL, *y = NULL;
    float *sc = NULL;
    uint8_t *lb = NULL;
    FILE *f = NULL;
    char tmp[1200], label[96];
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
    svg_series ser = {x, y, n, "#1f77b4", label};
    SN_TRY(write_svg(path, 420, 400, &f, tmp, sizeof tmp));
    svg_plot(f, 0, 0, 420, 400, "Image-level ROC (exact)", "false positive rate",
             "true positive rate", 1.0, 1, -1, &ser, 1);
    fputs("</svg>\n", f);
    status = close_rename(f, tmp, path);
    f = NULL;
done:
    if (f) {
        fclose(f);
        remove(tmp);
    }
    sn_free(x);
    sn_free(y);
    sn_free(sc);
    sn_free(lb);
    return status;
}

static sn_status svg_roc_pixel(const sn_ev_summary *s, const char *path)
{
    sn_status status = SN_OK;
    FILE *f = NULL;
    char tmp[1200], label[96];
    const sn_eval_curves *c = &s->cv;
    if (c->pixel_auroc.defined)
        snprintf(label, sizeof label, "AUROC %.4f", c->pixel_auroc.value);
    else
        snprintf(label, sizeof label, "AUROC n/a");
    svg_series ser = {c->fpr, c->tpr, c->n, "#d62728", label};
    SN_TRY(write_svg(path, 420, 400, &f, tmp, sizeof tmp));
    svg_plot(f, 0, 0, 420, 400, "Pixel-level ROC", "false positive rate", "true positive rate", 1.0,
             1, -1, &ser, 1);
    fputs("</svg>\n", f);
    status = close_rename(f, tmp, path);
    f = NULL;
done:
    if (f) {
        fclose(f);
        remove(tmp);
    }
    return status;
}

static sn_status svg_pro(const sn_ev_summary *s, const char *path)
{
    sn_status status = SN_OK;
    FILE *f = NULL;
    char tmp[1200], label[96];
    const sn_eval_curves *c = &s->cv;
    if (c->aupro.defined)
        snprintf(label, sizeof label, "AUPRO %.4f", c->aupro.value);
    else
        snprintf(label, sizeof label, "AUPRO n/a");
    svg_series ser = {c->fpr, c->pro, c->n, "#2ca02c", label};
    SN_TRY(write_svg(path, 840, 400, &f, tmp, sizeof tmp));
    svg_plot(f, 0, 0, 420, 400, "PRO curve (all FPR)", "false positive rate", "per-region overlap",
             1.0, 0, c->max_fpr, &ser, 1);
    svg_plot(f, 420, 0, 420, 400, "PRO curve up to the AUPRO limit", "false positive rate",
             "per-region overlap", c->max_fpr, 0, -1, &ser, 1);
    fputs("</svg>\n", f);
    status = close_rename(f, tmp, path);
    f = NULL;
done:
    if (f) {
        fclose(f);
        remove(tmp);
    }
    return status;
}

/* ------------------------------------------------------------------ report ------------ */

static sn_status ensure_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0)
        return S_ISDIR(st.st_mode) ? SN_OK : SN_ERR(SN_EIO, "%s: exists and is not a folder", dir);
    if (mkdir(dir, 0777) != 0)
        return SN_ERR(SN_EIO, "%s: cannot create the report folder: %s", dir, strerror(errno));
    return SN_OK;
}

/* Panel of test image `i` at <dir>/<prefix>_<k>.png. */
static sn_status write_panel(const sn_ev_summary *s, const char *path, int64_t i, sn_h5file *rf,
                             sn_dataset *ds, int have_recon)
{
    sn_status status = SN_OK;
    const size_t px = (size_t)s->S * s->S;
    uint8_t *rgb = NULL, *gt = NULL, *pred = NULL, *rec = NULL;
    float *mf = NULL, *map = NULL;
    hid_t dm = H5I_INVALID_HID, dr = H5I_INVALID_HID;
    hsize_t d3[3], d4[4];
    SN_ALLOC(rgb, px * 3, "panel image");
    SN_ALLOC(gt, px, "panel mask");
    SN_ALLOC(pred, px, "panel prediction");
    SN_ALLOC(mf, px, "panel mask");
    SN_ALLOC(map, px, "panel map");
    SN_TRY(sn_dataset_read(ds, SN_SPLIT_TEST, &i, 1, NULL, mf, rgb));
    for (size_t k = 0; k < px; k++)
        gt[k] = mf[k] > 0.5f;
    SN_TRY(sn_h5_dataset_open(rf, "/maps", 3, d3, &dm));
    SN_TRY(sn_h5_read_rows(rf, dm, "/maps", H5T_NATIVE_FLOAT, i, 1, map));
    if (have_recon) {
        SN_ALLOC(rec, px * 3, "panel reconstruction");
        SN_TRY(sn_h5_dataset_open(rf, "/reconstructions", 4, d4, &dr));
        if ((int64_t)d4[0] != s->M || d4[1] != (hsize_t)s->S || d4[2] != (hsize_t)s->S || d4[3] != 3)
            SN_FAIL(SN_EFORMAT, "%s: /reconstructions is not [%lld,%d,%d,3]", s->results,
                    (long long)s->M, s->S, s->S);
        SN_TRY(sn_h5_read_rows(rf, dr, "/reconstructions", H5T_NATIVE_UINT8, i, 1, rec));
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

sn_status sn_ev_write_report(const sn_ev_summary *s, const char *dir, sn_h5file *rf, sn_dataset *ds)
{
    sn_status status = SN_OK;
    char path[1200], tmp[1300], note[200];
    FILE *f = NULL;
    const sn_eval_result *r = &s->res;
    const sn_eval_curves *c = &s->cv;
    SN_TRY(ensure_dir(dir));
    snprintf(path, sizeof path, "%s/roc_image.svg", dir);
    SN_TRY(svg_roc_image(s, path));
    snprintf(path, sizeof path, "%s/roc_pixel.svg", dir);
    SN_TRY(svg_roc_pixel(s, path));
    snprintf(path, sizeof path, "%s/pro.svg", dir);
    SN_TRY(svg_pro(s, path));
    int have_recon = sn_h5_exists(rf, "/reconstructions");
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
    SN_TRY(open_tmp(path, tmp, sizeof tmp, &f));
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
    md_metric(f, "image AUROC", r->image_auroc, NULL);
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
               "pixel metrics over the same images.\n\n| type | images | image AUROC | pixel AUROC "
               "| AUPRO |\n|---|---|---|---|---|\n");
    for (int t = 0; t < s->n_types; t++) {
        char a[32], p[32], q[32];
        fmt_metric(a, sizeof a, s->type_image_auroc[t]);
        fmt_metric(p, sizeof p, s->type_pixel_auroc[t]);
        fmt_metric(q, sizeof q, s->type_aupro[t]);
        fprintf(f, "| %s | %lld | %s | %s | %s |\n", s->type_names[t], (long long)s->type_images[t], a,
                p, q);
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
            const sn_ev_image *im = &s->img[idx[j]];
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
    status = close_rename(f, tmp, path);
    f = NULL;
done:
    if (f) {
        fclose(f);
        remove(tmp);
    }
    return status;
}

/* ------------------------------------------------------------------ /metrics ---------- */

static sn_status copy_file(const char *src, const char *dst)
{
    sn_status status = SN_OK;
    FILE *in = NULL, *out = NULL;
    char *buf = NULL;
    enum { CH = 1 << 20 };
    if (!(in = fopen(src, "rb")))
        SN_FAIL(SN_EIO, "%s: cannot open: %s", src, strerror(errno));
    if (!(out = fopen(dst, "wb")))
        SN_FAIL(SN_EIO, "%s: cannot write a copy of %s: %s", dst, src, strerror(errno));
    SN_ALLOC(buf, CH, "file copy buffer");
    size_t n;
    while ((n = fread(buf, 1, CH, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            SN_FAIL(SN_EIO, "%s: write failed: %s", dst, strerror(errno));
    if (ferror(in))
        SN_FAIL(SN_EIO, "%s: read failed", src);
    int bad = fclose(out) != 0;
    out = NULL;
    if (bad)
        SN_FAIL(SN_EIO, "%s: write failed", dst);
done:
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    sn_free(buf);
    return status;
}

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

sn_status sn_ev_write_metrics_h5(const sn_ev_summary *s, const char *results)
{
    sn_status status = SN_OK;
    sn_h5file f = {.id = H5I_INVALID_HID, .comm = MPI_COMM_SELF};
    char tmp[1100];
    hid_t g = H5I_INVALID_HID, st = H5I_INVALID_HID, gcpl = H5I_INVALID_HID;
    char *names = NULL;
    double *v = NULL;
    const int T = s->n_types;
    const sn_eval_result *r = &s->res;
    const sn_eval_curves *c = &s->cv;
    int k1 = snprintf(tmp, sizeof tmp, "%s.eval.tmp", results);
    int k2 = snprintf(f.path, sizeof f.path, "%s", tmp);
    if (k1 < 0 || (size_t)k1 >= sizeof tmp || k2 < 0 || (size_t)k2 >= sizeof f.path)
        SN_FAIL(SN_EINVAL, "%s: path too long", results);
    SN_TRY(copy_file(results, tmp));
    f.id = H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f.id < 0)
        SN_FAIL(SN_EIO, "%s: cannot open the copy of %s for writing: %s", tmp, results, sn_h5_detail());
    if (sn_h5_exists(&f, "/metrics") && H5Ldelete(f.id, "/metrics", H5P_DEFAULT) < 0)
        SN_FAIL(SN_EIO, "%s: cannot remove the old /metrics: %s", tmp, sn_h5_detail());
    gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (gcpl < 0 || H5Pset_obj_track_times(gcpl, 0) < 0)
        SN_FAIL(SN_EIO, "%s: group properties: %s", tmp, sn_h5_detail());
    g = H5Gcreate2(f.id, "/metrics", H5P_DEFAULT, gcpl, H5P_DEFAULT);
    if (g < 0)
        SN_FAIL(SN_EIO, "%s: cannot create /metrics: %s", tmp, sn_h5_detail());
    const char *w = "/metrics";
    SN_TRY(sn_h5_attr_set_str(&f, w, "format", SN_METRICS_FORMAT));
    SN_TRY(sn_h5_attr_set_int(&f, w, "format_version", SN_METRICS_VERSION));
    SN_TRY(sn_h5_attr_set_str(&f, w, "data", s->data));
    SN_TRY(sn_h5_attr_set_int(&f, w, "n_images", r->n_images));
    SN_TRY(sn_h5_attr_set_int(&f, w, "n_good", r->n_good));
    SN_TRY(sn_h5_attr_set_int(&f, w, "n_defective", r->n_defective));
    SN_TRY(sn_h5_attr_set_int(&f, w, "n_pixels", r->n_pixels));
    SN_TRY(sn_h5_attr_set_int(&f, w, "n_defect_pixels", r->n_defect_pixels));
    SN_TRY(sn_h5_attr_set_int(&f, w, "n_regions", r->n_regions));
    SN_TRY(sn_h5_attr_set_double(&f, w, "image_auroc", mv(r->image_auroc)));
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
        SN_FAIL(SN_EIO, "%s: string type: %s", tmp, sn_h5_detail());
    SN_TRY(write_vec(&f, "/metrics/type_names", st, T, names));
    SN_TRY(write_vec(&f, "/metrics/type_images", H5T_NATIVE_INT64, T, s->type_images));
    for (int t = 0; t < T; t++)
        v[t] = mv(s->type_image_auroc[t]);
    SN_TRY(write_vec(&f, "/metrics/type_image_auroc", H5T_NATIVE_DOUBLE, T, v));
    for (int t = 0; t < T; t++)
        v[t] = mv(s->type_pixel_auroc[t]);
    SN_TRY(write_vec(&f, "/metrics/type_pixel_auroc", H5T_NATIVE_DOUBLE, T, v));
    for (int t = 0; t < T; t++)
        v[t] = mv(s->type_aupro[t]);
    SN_TRY(write_vec(&f, "/metrics/type_aupro", H5T_NATIVE_DOUBLE, T, v));
    H5Gclose(g);
    g = H5I_INVALID_HID;
    if (H5Fclose(f.id) < 0) {
        f.id = H5I_INVALID_HID;
        SN_FAIL(SN_EIO, "%s: closing failed: %s", tmp, sn_h5_detail());
    }
    f.id = H5I_INVALID_HID;
    if (rename(tmp, results) != 0)
        SN_FAIL(SN_EIO, "%s: cannot rename %s into place: %s", results, tmp, strerror(errno));
done:
    if (g >= 0)
        H5Gclose(g);
    if (gcpl >= 0)
        H5Pclose(gcpl);
    if (st >= 0)
        H5Tclose(st);
    if (f.id >= 0)
        H5Fclose(f.id);
    if (status != SN_OK)
        remove(tmp);
    sn_free(names);
    sn_free(v);
    return status;
}
